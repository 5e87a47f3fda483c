import assert from 'node:assert/strict';
import {
  addRates,
  judge,
  renderStatus,
  statusExitCode,
  type StatusReport,
} from '../../../cli/commands/status';
import { formatBytes, formatDuration, formatRate, Output, shortSequence, table } from '../../../cli/output';
import { EXIT } from '../../../cli/runtime';
import type { ShardCounters, ShardStatus } from '../../../workflows/shardReader/definitions';

const counters = (n: number): ShardCounters => ({
  batches: n,
  records: n * 10,
  applied: n * 10,
  stale: 0,
  coalesced: 0,
  published: n * 10,
  alerts: 0,
  deadLettered: 1,
  skipped: 0,
});

const SEQ = '49660000000000000000000000000000000000000000000000000042';

function shard(shardId: string, state: ShardStatus['state'], extra: Partial<ShardStatus> = {}): ShardStatus {
  return {
    stream: 's',
    consumer: 'c',
    shardId,
    state,
    checkpoint: '49660000000000000000000000000000000000000000000000000041',
    lagMs: 1500,
    counters: counters(3),
    notes: [],
    ...extra,
  };
}

function report(shards: ShardStatus[]): StatusReport {
  const r: StatusReport = {
    at: '2025-01-01T00:00:10.000Z',
    stream: 'cdc-inventory',
    consumers: [
      {
        consumer: 'inventory-pipeline',
        supervisorWorkflowId: 'cdc-supervisor:cdc-inventory:inventory-pipeline',
        workflowStatus: 'RUNNING',
        lastScan: '2025-01-01T00:00:08.000Z',
        notes: [],
        shards: shards.map((status) => ({
          shardId: status.shardId,
          workflowId: `cdc-shard:cdc-inventory:inventory-pipeline:${status.shardId}`,
          phase: 'read',
          status,
        })),
      },
    ],
    capture: {
      workflowId: 'cdc-capture:cdc_inventory_slot',
      slot: 'cdc_inventory_slot',
      workflowStatus: 'RUNNING',
      status: {
        slot: 'cdc_inventory_slot',
        state: 'RUNNING',
        lagging: false,
        lagAlertBytes: 1,
        captureRuns: 2,
      },
      slotHealth: {
        slot: 'cdc_inventory_slot',
        active: true,
        walStatus: 'reserved',
        confirmedFlushLsn: '0/1A2B3C',
        currentLsn: '0/1A2B40',
        lagBytes: 4,
        walRetainedBytes: 3 * 1024 * 1024,
        checkedAt: '',
      },
    },
    backfills: { open: [] },
    dlq: {
      table: 'cdc_dlq',
      total: 3,
      byStatus: { PARKED: 2, REDRIVEN: 1 },
      byCategory: { poison: 2, 'operator-skip': 1 },
    },
    problems: [],
    missing: [],
    warnings: [],
    healthy: true,
  };
  judge(r);
  return r;
}

describe('cdc: output', () => {
  it('formats tables, durations, bytes, rates and sequence numbers', () => {
    assert.equal(
      table(
        ['A', 'LONGER'],
        [
          ['x', 1],
          ['yyyy', undefined],
        ],
      ),
      'A     LONGER\nx     1\nyyyy  -',
    );
    assert.deepEqual([0, 950, 12_340, 245_000, 7_800_000, 100 * 3_600_000].map(formatDuration), [
      '0ms',
      '950ms',
      '12.3s',
      '4m05s',
      '2h10m',
      '4d04h',
    ]);
    assert.deepEqual([512, 1536, 3 * 1024 * 1024].map(formatBytes), ['512 B', '1.5 KiB', '3.0 MiB']);
    assert.deepEqual([undefined, 0, 0.42, 12.4, 1234].map(formatRate), [
      '-',
      '0/s',
      '0.4/s',
      '12/s',
      '1.2k/s',
    ]);
    assert.equal(shortSequence(SEQ), '…000000000042');
  });

  it('writes one JSON document with --json and progress to stderr', () => {
    let out = '';
    let err = '';
    const o = new Output({ stdout: (s) => void (out += s), stderr: (s) => void (err += s) }, true);
    o.info('working');
    o.result({ a: 1 }, () => 'human');
    assert.deepEqual(JSON.parse(out), { a: 1 });
    assert.equal(err, 'working\n');
  });

  it('status: a healthy pipeline renders its shards, capture, slot, backfills and dead letters; exit 0', () => {
    const r = report([shard('shardId-000000000000', 'CAUGHT_UP'), shard('shardId-000000000001', 'RUNNING')]);
    assert.equal(statusExitCode(r), EXIT.OK);
    const text = renderStatus(r);
    assert.match(text, /consumer inventory-pipeline .*last scan 2\.0s ago/);
    assert.match(text, /SHARD\s+STATE\s+LAG\s+CHECKPOINT\s+RECORDS/);
    assert.match(text, /shardId-000000000000\s+CAUGHT_UP\s+1\.5s\s+…000000000041\s+30\s+30\s+30/);
    assert.match(text, /capture cdc-capture:cdc_inventory_slot {2}RUNNING {2}runs 2/);
    assert.match(
      text,
      /slot cdc_inventory_slot: active, wal_status reserved, confirmed_flush_lsn 0\/1A2B3C, lag 4 B, WAL retained 3\.0 MiB/,
    );
    assert.match(text, /backfills: none/);
    assert.match(
      text,
      /dead letters \(cdc_dlq\): 3; by status: PARKED 2, REDRIVEN 1; by category: operator-skip 1, poison 2/,
    );
    assert.match(text, /\nhealthy$/);
  });

  it('status: a STUCK shard names the step, the error and the record; exit 4', () => {
    const stuck = shard('shardId-000000000001', 'STUCK', {
      lastError: {
        step: 'publish',
        category: 'transient',
        message: 'connect ECONNREFUSED',
        attempts: 3,
        at: 'now',
      },
      trouble: { sequenceNumber: SEQ, table: 'inventory', entityId: 'SKU-1#3', op: 'c' },
      batch: { first: SEQ, last: SEQ, size: 1 },
    });
    const r = report([shard('shardId-000000000000', 'CAUGHT_UP'), stuck]);
    assert.equal(statusExitCode(r), EXIT.UNHEALTHY);
    assert.equal(r.healthy, false);
    assert.match(
      r.problems[0],
      /shard shardId-000000000001 \(inventory-pipeline\) STUCK in publish: connect ECONNREFUSED/,
    );
    const text = renderStatus(r);
    assert.match(text, /shardId-000000000001 STUCK in step publish: connect ECONNREFUSED/);
    assert.match(text, new RegExp(`record in trouble: seq ${SEQ}, table inventory, entity SKU-1#3, op c`));
    assert.match(text, new RegExp(`cdc skip --shard shardId-000000000001 --seq ${SEQ}`));
    assert.match(text, /UNHEALTHY:\n {2}- shard shardId-000000000001/);
  });

  it('status: capture STUCK is unhealthy; workflows not running are exit 3', () => {
    const r = report([]);
    r.capture.status = {
      ...r.capture.status!,
      state: 'STUCK',
      lastError: {
        step: 'capture',
        category: 'transient',
        message: 'kinesis down',
        failures: 3,
        attempts: 9,
        since: 'a',
        at: 'b',
      },
    };
    r.problems = [];
    r.missing = [];
    judge(r);
    assert.equal(statusExitCode(r), EXIT.UNHEALTHY);
    assert.match(renderStatus(r), /failing: kinesis down/);
    const gone = report([]);
    gone.consumers[0].workflowStatus = 'NOT_FOUND';
    gone.problems = [];
    gone.missing = [];
    judge(gone);
    assert.equal(statusExitCode(gone), EXIT.NOT_FOUND);
    assert.match(
      renderStatus(gone),
      /NOT RUNNING:\n {2}- consumer inventory-pipeline: supervisor .* not found/,
    );
  });

  it('status --watch: per-second rates between two refreshes', () => {
    const r = report([shard('shardId-000000000000', 'RUNNING')]);
    addRates(r, new Map([['inventory-pipeline/shardId-000000000000', counters(1)]]), 2);
    assert.deepEqual(r.consumers[0].shards[0].rates, { records: 10, applied: 10, published: 10 });
    assert.match(renderStatus(r), /shardId-000000000000\s+RUNNING.*10\/s$/m);
  });
});
