import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cdc } from '../../support/cliRun';
import { ROOT } from '../../../infra/localStack/localStack';

/** Runs `cdc` in-process with buffered output (only paths that stop before connecting). */

describe('cdc: the program', () => {
  it('prints help at every level with exit 0, the exit codes in the top-level epilog', async () => {
    const top = await cdc('--help');
    assert.equal(top.code, 0);
    for (const c of ['status', 'pause', 'resume', 'skip', 'dlq', 'inspect', 'provision', 'stack'])
      assert.match(top.stdout, new RegExp(`\\n  ${c}\\b`), c);
    assert.match(
      top.stdout,
      /Exit codes:\n {2}0 {2}ok\n {2}1 {2}error.*\n {2}2 {2}usage error.*\n {2}3 {2}not found.*\n {2}4 {2}unhealthy/,
    );
    for (const sub of [
      ['status'],
      ['pause'],
      ['resume'],
      ['skip'],
      ['inspect'],
      ['provision'],
      ['stack', 'logs'],
      ['dlq', 'list'],
    ]) {
      const r = await cdc(...sub, '--help');
      assert.equal(r.code, 0, sub.join(' '));
      assert.match(r.stdout, new RegExp(`^Usage: cdc ${sub.join(' ')}`), sub.join(' '));
    }
  });

  it('exits 2 on usage errors, with commander’s one-line message on stderr', async () => {
    const cases: [string[], RegExp][] = [
      [['nope'], /unknown command 'nope'/],
      [['status', '--bogus'], /unknown option '--bogus'/],
      [['status', '--interval', 'abc'], /--interval.*'abc' is invalid\. must be a number of seconds/],
      [['status', '--interval', '0.1'], /at least 0\.5 seconds/],
      [['pause', '--shard', 'shard-1', '--reason', 'x'], /'shard-1' is invalid\. must be a shard id/],
      [['pause', '--shard', '1'], /required option '-r, --reason <text>' not specified/],
      [['pause', '--shard', '1', '--reason', '   '], /must not be empty/],
      [
        ['skip', '--shard', '1', '--seq', '12a', '--reason', 'x'],
        /--seq.*must be a Kinesis sequence number \(digits only\)/,
      ],
      [['skip', '--seq', '12', '--reason', 'x'], /required option '-s, --shard <id>' not specified/],
      [['pause', '--all', '--reason', 'x', '--consumer', 'a b'], /letters, digits/],
      [['pause', '--reason', 'x', '--timeout', '0'], /at least 1 second/],
      [['stack', 'logs', 'x', '-n', '-3'], /--lines/],
      [['inspect', 'inventory'], /missing required argument 'id'/],
      [[], /Usage: cdc/],
      [['stack'], /Usage: cdc stack/],
    ];
    for (const [args, message] of cases) {
      const r = await cdc(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
  });

  it('checks option combinations before connecting: pause/resume need exactly one of --shard and --all', async () => {
    const neither = await cdc('pause', '--reason', 'x');
    assert.equal(neither.code, 2);
    assert.equal(neither.stderr, 'cdc: say which shard: --shard <id>, or --all for every shard\n');
    const both = await cdc('resume', '--shard', '1', '--all');
    assert.equal(both.code, 2);
    assert.equal(both.stderr, 'cdc: give either --shard or --all, not both\n');
  });

  it('a usage error in any group exits 2 with the hint (groups built on their own included)', async () => {
    const r = await cdc('backfill', 'start', '--tables', 'inventory', '--chunk-size', 'x');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /add --help for usage/);
  });

  it('prints a JSON error document with --json, and no stack trace', async () => {
    const r = await cdc('--json', 'pause', '--reason', 'x');
    assert.equal(r.code, 2);
    assert.deepEqual(JSON.parse(r.stdout), {
      ok: false,
      error: 'say which shard: --shard <id>, or --all for every shard',
      exitCode: 2,
    });
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it('dlq refuses unclear requests before connecting: exit 2 with the reason', async () => {
    const cases: [string[], RegExp][] = [
      [['dlq', 'redrive', '--reason', 'x'], /say which items/],
      [
        ['dlq', 'discard', 'SHARD#a', '--category', 'poison', '--reason', 'x'],
        /ids or filter options, not both/,
      ],
      [['dlq', 'redrive', 'SHARD#a'], /required option/],
      [['dlq', 'show'], /missing required argument/],
      [['dlq', 'list', '--status', 'LOST'], /Allowed choices/],
    ];
    for (const [args, message] of cases) {
      const r = await cdc(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
  });

  it('bin/cdc runs from any directory: --help exits 0, a usage error exits 2', function () {
    this.timeout(60_000);
    const bin = join(ROOT, 'bin', 'cdc');
    const help = spawnSync(bin, ['status', '--help'], { cwd: '/', encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /Usage: cdc status \[options\]/);
    assert.match(help.stdout, /--watch/);
    const bad = spawnSync(bin, ['skip', '--shard', '1', '--seq', 'x', '--reason', 'r'], {
      cwd: '/',
      encoding: 'utf8',
    });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /must be a Kinesis sequence number/);
  });
});
