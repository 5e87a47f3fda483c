import assert from 'node:assert/strict';
import {
  changeRefusal,
  listText,
  noteFor,
  reserveRefusal,
  reserveRequestOf,
  runningExpiryWorkflows,
  showText,
  stateText,
  visibilityLiteral,
  type ListedReservation,
} from '../../../cli/commands/reserve';
import { cdc } from '../../support/cliRun';
import { CliError, EXIT } from '../../../cli/runtime';
import type { Reservation } from '../../../infra/reservationStore';
import { TypedSearchAttributes } from '@temporalio/common';
import type { Client as TemporalClient } from '@temporalio/client';
import { ListRequestSchema } from '../../../domain/reservations/requests';

/** Runs `cdc` in-process with buffered output (only paths that stop before connecting). */

const NOW = Date.parse('2026-11-23T10:00:00.000Z');
const held = (extra: Partial<Reservation> = {}): Reservation => ({
  reservationId: 'r-1',
  sku: 'SKU-1',
  warehouseId: 3,
  orderId: 'o-1',
  quantity: 2,
  status: 'HELD',
  expiresAt: '2026-11-23T10:15:00.000Z',
  createdAt: '2026-11-23T09:59:00.000Z',
  updatedAt: '2026-11-23T09:59:00.000Z',
  ...extra,
});

describe('cdc reserve', () => {
  it('has help at every level, and is listed in the program', async () => {
    const top = await cdc('--help');
    assert.match(top.stdout, /\n {2}reserve\b/);
    for (const sub of [
      ['reserve'],
      ['reserve', 'hold'],
      ['reserve', 'extend'],
      ['reserve', 'list'],
      ['reserve', 'show'],
    ]) {
      const r = await cdc(...sub, '--help');
      assert.equal(r.code, 0, sub.join(' '));
      assert.match(r.stdout, new RegExp(`^Usage: cdc ${sub.join(' ')}`), sub.join(' '));
    }
    assert.match((await cdc('reserve', '--help')).stdout, /confirm <id>[\s\S]*cancel <id>[\s\S]*extend/);
  });

  it('refuses invalid or incomplete requests before connecting: exit 2 with the reason', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['reserve'],
        /say what to hold: --sku, --warehouse, --qty and --ttl \(missing --sku, --warehouse, --qty, --ttl\)/,
      ],
      [['reserve', '--sku', 'S', '--warehouse', '1', '--qty', '1'], /\(missing --ttl\)/],
      [
        ['reserve', '--sku', 'S', '--warehouse', 'x'],
        /--warehouse <id>.*'x' is invalid\. must be a warehouse number/,
      ],
      [['reserve', '--sku', 'S', '--warehouse', '1', '--qty', '0', '--ttl', '1m'], /--qty <n>.*at least 1/],
      [
        ['reserve', '--sku', 'S', '--warehouse', '1', '--qty', '1', '--ttl', '31d'],
        /--ttl <duration>.*at most 30d/,
      ],
      [
        ['reserve', '--sku', 'S', '--warehouse', '1', '--qty', '1', '--ttl', 'soon'],
        /must be a duration like 90, 90s, 15m, 2h or 1d/,
      ],
      [
        ['reserve', '--sku', 'S', '--warehouse', '1', '--qty', '1', '--ttl', '1m', '--id', 'a b'],
        /--id <id>.*a reservation id/,
      ],
      [['reserve', 'confirm'], /missing required argument 'id'/],
      [['reserve', 'cancel', 'a/b'], /must be 1 to 128 letters, digits or \. _ : -/],
      [['reserve', 'extend', 'r-1'], /give exactly one of --ttl <duration> and --until <iso time>/],
      [['reserve', 'extend', 'r-1', '--ttl', '10m', '--until', '2099-01-01T00:00:00Z'], /give exactly one/],
      [['reserve', 'extend', 'r-1', '--until', '2000-01-01T00:00:00Z'], /--until: must be in the future/],
      [['reserve', 'extend', 'r-1', '--until', 'tomorrow'], /--until: must be an ISO-8601 time/],
      [['reserve', 'extend', 'r-1', '--ttl', '0'], /--ttl: at least 1s/],
      [
        ['reserve', 'list', '--status', 'gone'],
        /--status: must be one of HELD, CONFIRMED, CANCELLED, EXPIRED or all/,
      ],
      [['reserve', 'list', '--limit', '5000'], /--limit: at most 1000/],
      [['reserve', 'list', '--expiring-within', '5x'], /--expiring-within: must be a duration/],
      [['reserve', 'list', '--warehouse', '-1'], /--warehouse: at least 0/],
      [['reserve', 'bogus'], /too many arguments/],
    ];
    for (const [args, pattern] of cases) {
      const r = await cdc(...args);
      assert.equal(r.code, EXIT.USAGE, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
  });

  it('extend keeps its own --ttl (the group has no options to take it)', async () => {
    // Parsed by extend: a valid --ttl alone would connect, so pair it with an invalid --until.
    const r = await cdc('reserve', 'extend', 'r-1', '--ttl', '10m', '--until', 'x');
    assert.match(r.stderr, /give exactly one of --ttl/);
  });

  it('builds the request from the options', () => {
    assert.deepEqual(reserveRequestOf({ sku: 'S', warehouse: 0, qty: 2, ttl: 900 }), {
      sku: 'S',
      warehouseId: 0,
      quantity: 2,
      ttlSeconds: 900,
    });
    assert.deepEqual(reserveRequestOf({ sku: 'S', warehouse: 1, qty: 1, ttl: 60, id: 'r-9', order: 'o-9' }), {
      sku: 'S',
      warehouseId: 1,
      quantity: 1,
      ttlSeconds: 60,
      reservationId: 'r-9',
      orderId: 'o-9',
    });
    assert.throws(
      () => reserveRequestOf({ sku: 'S' }),
      (e: unknown) => e instanceof CliError && e.exitCode === EXIT.USAGE,
    );
  });

  it('a refused reservation: one line, its JSON document, exit 1 (stock, duplicate) or 3 (unknown SKU)', () => {
    const req = { sku: 'SKU-1', warehouseId: 3 };
    const stock = reserveRefusal(
      { ok: false, reason: 'insufficient-stock', available: 1, requested: 2 },
      req,
    );
    assert.deepEqual(stock, {
      doc: { ok: false, reason: 'insufficient-stock', available: 1, requested: 2 },
      message: 'insufficient stock of SKU-1 in warehouse 3: 1 available, 2 requested',
      exitCode: EXIT.ERROR,
    });
    const unknown = reserveRefusal({ ok: false, reason: 'unknown-sku' }, req);
    assert.equal(unknown.exitCode, EXIT.NOT_FOUND);
    assert.equal(unknown.message, 'unknown SKU: no inventory row for SKU-1 in warehouse 3');
    const dup = reserveRefusal({ ok: false, reason: 'duplicate-id', reservation: held() }, req);
    assert.equal(dup.exitCode, EXIT.ERROR);
    assert.match(dup.message, /^reservation r-1 already exists: HELD\b.*, 2 × SKU-1 in warehouse 3$/);
  });

  it('a change that did not happen names the state: exit 1, or 3 when there is no reservation', () => {
    assert.deepEqual(changeRefusal('confirm', 'r-0', { outcome: 'missing' }), {
      doc: { ok: false, outcome: 'missing', reservationId: 'r-0' },
      message: 'no reservation r-0',
      exitCode: EXIT.NOT_FOUND,
    });
    const late = changeRefusal('confirm', 'r-1', { outcome: 'expired', reservation: held() });
    assert.equal(late.exitCode, EXIT.ERROR);
    assert.equal(
      late.message,
      'cannot confirm reservation r-1: it expired at 2026-11-23T10:15:00.000Z (not yet released)',
    );
    const released = held({ status: 'EXPIRED', updatedAt: '2026-11-23T10:15:01.000Z' });
    assert.equal(
      changeRefusal('extend', 'r-1', { outcome: 'expired', reservation: released }).message,
      'cannot extend reservation r-1: it expired at 2026-11-23T10:15:00.000Z (EXPIRED since 2026-11-23T10:15:01.000Z)',
    );
    const confirmed = held({ status: 'CONFIRMED', updatedAt: '2026-11-23T10:01:00.000Z' });
    assert.equal(
      changeRefusal('cancel', 'r-1', { outcome: 'not-held', reservation: confirmed }).message,
      'cannot cancel reservation r-1: it is CONFIRMED (since 2026-11-23T10:01:00.000Z)',
    );
  });

  it('states in words', () => {
    assert.equal(stateText(held(), NOW), 'HELD until 2026-11-23T10:15:00.000Z (in 15m00s)');
    assert.equal(
      stateText(held({ expiresAt: '2026-11-23T09:59:57.000Z' }), NOW),
      'HELD, expired 3.0s ago (not yet released)',
    );
    assert.equal(stateText(held({ status: 'CANCELLED' }), NOW), 'CANCELLED (since 2026-11-23T09:59:00.000Z)');
  });

  it('list flags HELD rows without a workflow, deadlines the workflow has not seen, overdue holds', () => {
    const wf = (expiresAt: string) => ({
      workflowId: 'reservation-expiry:r',
      status: 'RUNNING',
      state: 'HELD',
      expiresAt,
    });
    const r = held();
    assert.equal(noteFor(r, undefined, NOW), 'no expiry workflow');
    assert.equal(noteFor(r, wf(r.expiresAt), NOW), undefined);
    assert.equal(
      noteFor(r, wf('2026-11-23T10:05:00.000Z'), NOW),
      'workflow waits for 2026-11-23T10:05:00.000Z (change not seen yet)',
    );
    const overdue = held({ expiresAt: '2026-11-23T09:59:00.000Z' });
    assert.equal(noteFor(overdue, wf(overdue.expiresAt), NOW), 'overdue by 1m00s');
    assert.equal(noteFor(held({ status: 'CONFIRMED' }), undefined, NOW), undefined);
    assert.match(noteFor(held({ status: 'CONFIRMED' }), wf(r.expiresAt), NOW) ?? '', /still running/);

    const rows: ListedReservation[] = [
      { ...held({ reservationId: 'r-1' }), workflow: wf(r.expiresAt) },
      { ...held({ reservationId: 'r-2' }), workflow: null, note: 'no expiry workflow' },
    ];
    const text = listText(rows, undefined, NOW);
    assert.match(
      text,
      /^ID\s+SKU\s+WH\s+QTY\s+STATUS\s+EXPIRES AT\s+EXPIRES\s+WORKFLOW\s+WAITS FOR\s+NOTE\n/,
    );
    assert.match(text, /r-2 .* no expiry workflow\n/);
    assert.match(
      text,
      /1 of 2 HELD reservations have no expiry workflow: the pipeline has not reached them yet/,
    );
    const offline = listText([{ ...held(), workflow: null }], 'connect ECONNREFUSED', NOW);
    assert.doesNotMatch(offline, /have no expiry workflow/, 'unknown is not "none"');
    assert.equal(listText([], undefined, NOW), 'no reservations match');
  });

  it('show: the row and the workflow, a missing workflow or a failed query said plainly', () => {
    const none = showText('r-1', held(), { workflowId: 'reservation-expiry:r-1', exists: false });
    assert.match(none, /^r-1: 2 × SKU-1 in warehouse 3, order o-1\n/);
    assert.match(
      none,
      /expiry workflow reservation-expiry:r-1: none \(the pipeline has not seen this hold yet/,
    );
    const unreachable = showText('r-1', held(), {
      workflowId: 'reservation-expiry:r-1',
      exists: false,
      error: 'Temporal: no answer within 5s',
    });
    assert.match(unreachable, /expiry workflow: unknown \(Temporal: no answer within 5s\)/);
    const noWorker = showText('r-1', null, {
      workflowId: 'reservation-expiry:r-1',
      exists: true,
      info: {
        workflowId: 'reservation-expiry:r-1',
        status: 'RUNNING',
        state: 'HELD',
        expiresAt: '2026-11-23T10:15:00.000Z',
      },
      error: 'status query failed (no worker answered?): deadline exceeded',
    });
    assert.match(noWorker, /^r-1: no row in PostgreSQL/);
    assert.match(
      noWorker,
      /CdcState HELD, CdcExpiresAt 2026-11-23T10:15:00\.000Z\n {2}\(status query failed/,
    );
    const queried = showText('r-1', held(), {
      workflowId: 'reservation-expiry:r-1',
      exists: true,
      info: { workflowId: 'reservation-expiry:r-1', status: 'RUNNING' },
      status: {
        reservationId: 'r-1',
        state: 'HELD',
        expiresAt: '2026-11-23T10:15:00.000Z',
        signalsSeen: 2,
        version: '0000000001A2B3C4.0000000001',
        notes: ['held until 2026-11-23T10:15:00.000Z'],
      },
    });
    assert.match(
      queried,
      /state HELD, waits for 2026-11-23T10:15:00\.000Z, changes seen: 2, last version 0000000001A2B3C4/,
    );
    assert.match(queried, /\n {2}held until 2026-11-23T10:15:00\.000Z$/);
  });

  it('list: a reservation id with quotes cannot break or widen the visibility query', async () => {
    // Ids come from PostgreSQL rows, which any application writes: nothing validated them.
    const hostile = [
      'r-1" OR WorkflowId != "x',
      "r-2' OR '1'='1",
      'r-3\\" OR ExecutionStatus != "',
      '"r-4"',
      'r-5\n) OR (WorkflowType != "y',
    ];
    const plain = ['r-ok-1', 'res-mwth5g2e-4f9a0c2e7d1b', 'a.b:c_d-e'];
    const rows = [...plain, ...hostile].map((reservationId) => held({ reservationId }));
    const queries: string[] = [];
    const described: string[] = [];
    const running = (workflowId: string) => ({
      workflowId,
      type: 'reservationExpiryWorkflow',
      status: { name: 'RUNNING' },
      typedSearchAttributes: new TypedSearchAttributes(),
    });
    const fake = {
      workflow: {
        async *list({ query }: { query: string }) {
          queries.push(query);
          // What the query names: only the quoted ids of `WorkflowId IN (…)`.
          for (const m of (/WorkflowId IN \((.*)\)$/.exec(query)?.[1] ?? '').matchAll(/"([^"]*)"/g))
            yield running(m[1]!);
        },
        getHandle: (workflowId: string) => ({
          describe: async () => {
            described.push(workflowId);
            return running(workflowId);
          },
        }),
      },
    } as unknown as TemporalClient;
    const filter = ListRequestSchema.parse({ status: 'HELD', sku: 'SKU"1', expiringWithinSeconds: 300 });
    const found = await runningExpiryWorkflows(fake, rows, filter);

    // Every query is the fixed shape with plain literals only: nothing a row said got in.
    const literal = '"[A-Za-z0-9._:-]+"';
    const base = `WorkflowType = 'reservationExpiryWorkflow' AND ExecutionStatus = 'Running'`;
    for (const q of queries)
      assert.match(
        q,
        new RegExp(
          `^${base} AND (CdcExpiresAt < "[0-9TZ:.-]+"|WorkflowId IN \\(${literal}(, ${literal})*\\))$`,
        ),
        q,
      );
    // The ids that cannot be a plain literal are looked up exactly, by workflow id.
    assert.deepEqual(described.sort(), hostile.map((id) => `reservation-expiry:${id}`).sort());
    assert.deepEqual([...found.keys()].sort(), [...plain, ...hostile].sort());

    assert.equal(visibilityLiteral('SKU-1 large/blue'), '"SKU-1 large/blue"');
    for (const bad of ['a"b', "a'b", 'a\\b', 'a\nb', 'a\u0000b', ''])
      assert.equal(visibilityLiteral(bad), undefined, JSON.stringify(bad));
  });
});
