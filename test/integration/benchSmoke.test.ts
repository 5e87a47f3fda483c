import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runBench, SMOKE_OPTIONS, type BenchReport } from '../../bench/pipeline';
import { runSimulatedBench, SIM_SMOKE_OPTIONS, type SimBenchReport } from '../../bench/simulated';
import { ROOT } from '../../infra/localStack/localStack';

/**
 * `npm run bench -- --smoke` as a function call: every part of the benchmark with tiny sizes
 * (sink ceilings, capture alone, the direct consumer, the pipeline at a backlog and one rate,
 * scale-out with two workers), on the local stack. The figures are not judged (no timed test);
 * only that each section measured something and the JSON and PNG were written.
 */
describe('benchmark smoke run (npm run bench -- --smoke)', function () {
  this.timeout(240_000);
  let report: BenchReport;
  const lines: string[] = [];

  before(async () => {
    report = await runBench({
      ...SMOKE_OPTIONS,
      outDir: join(ROOT, '.cache', 'test-artifacts', 'bench'),
      log: (line) => lines.push(line),
    });
  });

  const positive = (v: number | null | undefined, what: string) =>
    assert.ok(typeof v === 'number' && Number.isFinite(v) && v > 0, `${what}: ${v}\n${lines.join('\n')}`);

  it('measures every sink ceiling', () => {
    const names = report.ceilings.map((c) => c.name).join(' | ');
    for (const sink of ['PutEvents', 'PutItem', 'PutRecords', 'GetRecords'])
      assert.match(names, new RegExp(sink));
    for (const c of report.ceilings) positive(c.perSecond, c.name);
  });

  it('measures capture alone against the raw PutRecords loop', () => {
    positive(report.capture?.perSecond, 'capture records/s');
    positive(report.capture?.raw?.perSecond, 'raw PutRecords records/s');
    assert.ok(report.capture?.commitToKinesis, 'commit→Kinesis latency');
  });

  it('measures the direct consumer and the pipeline on a backlog and at a rate', () => {
    for (const section of ['direct', 'pipeline'] as const) {
      const rows = report.rows.filter((r) => r.section === section);
      assert.ok(
        rows.some((r) => r.offered === null),
        `${section}: a backlog row`,
      );
      assert.ok(
        rows.some((r) => r.offered !== null),
        `${section}: a rate row`,
      );
      for (const r of rows) {
        positive(r.delivered, `${r.name} delivered/s`);
        positive(r.cpuPer1k, `${r.name} CPU-s/1k`);
        positive(r.rssMb, `${r.name} MB`);
        assert.ok(r.limiting, `${r.name}: limiting component`);
        if (r.offered !== null) {
          positive(r.sqs?.p50, `${r.name} commit→SQS p50`);
          positive(r.dynamo?.p50, `${r.name} commit→DynamoDB p50`);
        }
        if (section === 'pipeline') {
          positive(r.historyPer1k, `${r.name} history events/1k`);
          positive(r.wftPer1k, `${r.name} workflow tasks/1k`);
          positive(r.actionsPer1k, `${r.name} actions/1k`);
          positive(r.historyBytesPerChange, `${r.name} history bytes/change`);
        }
      }
    }
  });

  it('shows how the work spreads over the workers, no shard read twice', () => {
    const s = report.scaleOut;
    assert.ok(s, 'scale-out section');
    assert.equal(s.workers, 2);
    assert.ok(s.perWorker.length >= 1, 'activities per worker identity');
    positive(
      s.perWorker.reduce((n, w) => n + w.recordsPulled, 0),
      'records pulled by the workers',
    );
    assert.equal(s.shardChecks.length, 4);
    assert.ok(s.noShardReadTwice, JSON.stringify(s.shardChecks));
    assert.ok(s.checkpointsMonotonic, JSON.stringify(s.shardChecks));
  });

  it('evaluates the targets and writes the JSON and the PNG chart', () => {
    assert.equal(report.targets.length, 7);
    for (const t of report.targets) assert.match(t.status, /^(met|not met|inconclusive)$/);
    assert.ok(existsSync(report.files.json) && statSync(report.files.json).size > 0, report.files.json);
    const saved = JSON.parse(readFileSync(report.files.json, 'utf8')) as BenchReport;
    assert.equal(saved.rows.length, report.rows.length);
    const png = readFileSync(report.files.png);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG file');
    assert.ok(png.length > 5_000, `PNG of ${png.length} bytes`);
  });
});

/**
 * `npm run bench:simulated -- --smoke`: the simulated-sinks benchmark (in-process AWS fakes at
 * AWS-like latencies, the real Temporal dev server) with one and two shards, a small backlog and
 * rate, pipeline and direct consumer. Figures are not judged; only that each run measured them and
 * that every change arrived once, in per-key order, with DynamoDB at each key's newest version.
 */
describe('simulated-sinks benchmark smoke run (npm run bench:simulated -- --smoke)', function () {
  this.timeout(240_000);
  let report: SimBenchReport;
  const lines: string[] = [];

  before(async () => {
    report = await runSimulatedBench({
      ...SIM_SMOKE_OPTIONS,
      outDir: join(ROOT, '.cache', 'test-artifacts', 'bench'),
      log: (line) => lines.push(line),
    });
  });

  const positive = (v: number | null | undefined, what: string) =>
    assert.ok(typeof v === 'number' && Number.isFinite(v) && v > 0, `${what}: ${v}\n${lines.join('\n')}`);

  it('measures the pipeline and the direct consumer on a backlog and at a rate, one and two shards', () => {
    for (const consumer of ['pipeline', 'direct'] as const)
      for (const shards of [1, 2])
        for (const phase of ['backlog', 'rate'] as const) {
          const r = report.rows.find(
            (x) => x.consumer === consumer && x.shards === shards && x.phase === phase,
          );
          assert.ok(r, `${consumer} ${shards} ${phase}\n${lines.join('\n')}`);
          assert.ok(r.drained, `${consumer} ${shards} ${phase} drained\n${lines.join('\n')}`);
          positive(r.delivered, `${consumer} ${shards} ${phase} delivered/s`);
          if (phase === 'rate') positive(r.latency?.p99, `${consumer} ${shards} commit→publish p99`);
          if (consumer === 'pipeline') {
            positive(r.actionsPer1k, `${consumer} ${shards} ${phase} actions/1k`);
            positive(r.historyPer1k, `${consumer} ${shards} ${phase} history events/1k`);
            positive(r.historyBytesPerChange, `${consumer} ${shards} ${phase} history bytes/change`);
          }
        }
  });

  it('checks that every change arrived once, in per-key order, and DynamoDB holds the newest', () => {
    assert.equal(report.checks.length, 4);
    for (const c of report.checks) {
      const what = `${c.consumer}, ${c.shards} shard(s): ${JSON.stringify(c)}`;
      assert.ok(c.written > 0, what);
      assert.equal(c.missing, 0, what);
      assert.equal(c.orderViolations, 0, what);
      assert.equal(c.stateMismatches, 0, what);
      assert.deepEqual(c.unsupported, {}, what);
    }
    assert.equal(report.targets.length, 2);
    assert.ok(existsSync(report.file), report.file);
  });
});
