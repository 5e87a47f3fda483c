import assert from 'node:assert/strict';
import type { Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { temporalDataConverter } from '../../infra/temporal';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

/**
 * Issue 20: the shard reader's history holds control state, not data. Rows with planted values
 * in columns no rule redacts flow through the pipeline (they reach DynamoDB unredacted: the
 * control); then every payload of every shard reader's history is decoded with the codec and
 * searched for them. The references it carries instead (batch range, checksum) must be there.
 */
describe('shard-reader history carries batch references, not rows', function () {
  this.timeout(300_000);
  let p: TestPipeline;
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const planted = [`plantedname${run}`, `planteddescription${run}`, `plantedcategory${run}`];

  before(async function () {
    this.timeout(240_000);
    p = await startTestPipeline({ idleWaitMs: 1_000 });
  });
  after(async () => {
    await p?.stop();
  });

  it('decodes every payload of the shard readers’ histories and finds no planted value', async () => {
    const probe = probes(p);
    for (let i = 0; i < 5; i++)
      await p.pg.query(
        `INSERT INTO products (product_id, sku, name, description, category, price) VALUES ($1, $2, $3, $4, $5, 1.5)`,
        [`prod-${run}-${i}`, `sku-${run}-${i}`, `${planted[0]}-${i}`, planted[1], planted[2]],
      );
    await p.pg.query(`UPDATE products SET description = $1 WHERE product_id LIKE $2`, [
      `${planted[1]}-updated`,
      `prod-${run}-%`,
    ]);
    for (let i = 0; i < 5; i++) {
      const item = await waitFor(`product ${i} updated in DynamoDB`, async () => {
        const e = await probe.entity('products', `prod-${run}-${i}`);
        return (e?.row as Record<string, unknown> | undefined)?.description === `${planted[1]}-updated`
          ? e
          : undefined;
      });
      // Control: the values are row values the pipeline carries unredacted to DynamoDB.
      assert.equal((item.row as Record<string, unknown>).name, `${planted[0]}-${i}`);
    }

    const converter = temporalDataConverter();
    const codecs = converter.payloadCodecs ?? [];
    let decoded = '';
    let payloads = 0;
    const shardIds = (await probe.overview()).shards.map((s) => s.shardId);
    assert.ok(shardIds.length >= 1);
    for (const shardId of shardIds) {
      const handle = p.client.workflow.getHandle(
        `cdc-shard:${p.config.stream}:${p.config.consumer}:${shardId}`,
      );
      for (let runId: string | undefined = (await handle.describe()).runId; runId;) {
        const history = await p.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
        for (const payload of payloadsOf(history)) {
          let plain: Payload = payload;
          for (const codec of [...codecs].reverse()) [plain] = await codec.decode([plain]);
          decoded += Buffer.from(plain.data ?? new Uint8Array()).toString('utf8') + '\n';
          payloads++;
        }
        runId =
          history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
      }
    }
    // Controls: the histories were decoded, and they carry references.
    assert.ok(payloads > 10, `decoded ${payloads} payloads`);
    assert.match(decoded, /"checksum":"[0-9a-f]{16}"/, 'batch references are in the history');
    for (const value of planted)
      assert.ok(!decoded.includes(value), `${value} is in a shard reader's history`);
    console.log(
      `      ${payloads} payloads decoded, ${decoded.length} bytes, none of ${planted.length} planted values`,
    );
  });
});

/** Every payload anywhere in a history (inputs, results, signals, markers, memos, failures' details). */
function payloadsOf(history: temporal.api.history.v1.IHistory): Payload[] {
  const out: Payload[] = [];
  const visit = (v: unknown): void => {
    if (!v || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      v.forEach(visit);
      return;
    }
    const o = v as Record<string, unknown>;
    if (o.metadata && typeof o.metadata === 'object' && 'data' in o && o.data instanceof Uint8Array) {
      out.push(o as Payload);
      return;
    }
    for (const k of Object.keys(o)) visit(o[k]);
  };
  visit(history.events ?? []);
  return out;
}
