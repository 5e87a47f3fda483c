// Loaded by mocha before any test (see .mocharc.json). A Kinesis emulator that the tests start
// does not persist its data: the tests delete their streams anyway, and persisting large
// streams costs the emulator a CPU core.
process.env.CDC_KINESIS_PERSIST ??= 'false';
// The table configuration every domain function reads (the worker and scripts load it with their configuration).
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('../../infra/tablesFile').loadTables();
