import { readDeadLetterRaw } from '../../../activities/deadLetters';
import { keyringFromEnv } from '../../../infra/codec/keyring';
import assert from 'node:assert/strict';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { Client } from 'pg';
import { captureDeadLetterKey } from '../../../domain/core/itemKeys';
import { awsClients } from '../../../infra/aws';
import { applyLocalStackEnv, stackUp } from '../../../infra/localStack/localStack';
import { eventRouting } from '../../../infra/provisioning';
import { probes } from '../../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../../support/testPipeline';
import { waitFor } from '../../support/waitFor';

const unique = (prefix: string) =>
  `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`.toUpperCase();
const MiB = 2 ** 20;

async function connect(user?: string): Promise<Client> {
  const c = new Client(user ? { user } : {});
  await c.connect();
  return c;
}
const currentLsn = async (c: Client) =>
  (await c.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l;
/** Whether the slot confirmed `lsn` (everything up to it is on the stream). */
const confirmedPast = async (c: Client, slot: string, lsn: string) =>
  (
    await c.query<{ done: boolean }>(
      'SELECT confirmed_flush_lsn >= $2::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $1',
      [slot, lsn],
    )
  ).rows[0]?.done === true;

describe('capture failure paths', function () {
  this.timeout(300_000);
  before(async function () {
    this.timeout(120_000);
    await stackUp();
    applyLocalStackEnv();
  });

  it('confirms the slot during a sustained backlog (the decode queue never drains)', async function () {
    this.timeout(240_000);
    const p = await startTestPipeline({}, { readers: false });
    const sampler = await connect();
    const order = unique('BACKLOG');
    const transactions = 2_000;
    const rowsPerTx = 4;
    try {
      const t0 = Date.now();
      const startLsn = await currentLsn(sampler);
      // Many small transactions committed in a burst: capture (bound by Kinesis) falls behind
      // at once and stays behind until it has worked through all of them.
      await p.pg.query(
        `DO $$ BEGIN
           FOR t IN 1..${transactions} LOOP
             INSERT INTO order_items (order_id, line_no, sku, quantity, unit_price)
               SELECT '${order}', t * 10 + g, 'SKU-' || g, 1, 9.99 FROM generate_series(1, ${rowsPerTx}) g;
             COMMIT;
           END LOOP;
         END $$`,
      );
      const endLsn = await currentLsn(sampler);
      const committedIn = (Date.now() - t0) / 1000;
      const samples: { s: number; lag: number; confirmed: string }[] = [];
      await waitFor(
        'the backlog to be confirmed',
        async () => {
          const r = await sampler.query<{ confirmed: string; lag: string; done: boolean }>(
            `SELECT confirmed_flush_lsn::text AS confirmed,
                    pg_wal_lsn_diff($2::pg_lsn, confirmed_flush_lsn)::bigint::text AS lag,
                    confirmed_flush_lsn >= $2::pg_lsn AS done
               FROM pg_replication_slots WHERE slot_name = $1`,
            [p.config.slot, endLsn],
          );
          const row = r.rows[0];
          samples.push({
            s: (Date.now() - t0) / 1000,
            lag: Math.max(0, Number(row.lag)),
            confirmed: row.confirmed,
          });
          return row.done ? true : undefined;
        },
        { timeoutMs: 200_000, intervalMs: 500 },
      );
      const seconds = (Date.now() - t0) / 1000;
      const changes = transactions * rowsPerTx;
      const backlogBytes = samples[0]!.lag;
      // While the backlog was being worked through (before everything was confirmed), the slot moved.
      const during = samples.filter((x) => x.lag > 0);
      const advances = new Set(during.map((x) => x.confirmed)).size - 1;
      console.log(
        `      backlog: ${transactions} transactions, ${changes} changes, ${(backlogBytes / MiB).toFixed(1)} MiB of WAL committed in ${committedIn.toFixed(1)} s (from ${startLsn}); confirmed in ${seconds.toFixed(1)} s, the confirmed position advanced ${advances} times before the end`,
      );
      console.log(
        `      slot lag while busy (s → MiB unconfirmed of the backlog): ${samples
          .filter(
            (_, i) => i % Math.max(1, Math.round(samples.length / 16)) === 0 || i === samples.length - 1,
          )
          .map((x) => `${x.s.toFixed(1)}→${(x.lag / MiB).toFixed(2)}`)
          .join(', ')}`,
      );
      assert.ok(during.length >= 4, 'the backlog took a few samples to work through');
      // Confirmed before the end at all is the behaviour (a decode queue that never drains must not
      // hold the slot back until it does); how often depends on the status interval and the machine.
      assert.ok(advances >= 1, `the slot was confirmed while busy (advanced ${advances} times)`);
      for (let i = 1; i < samples.length; i++)
        assert.ok(samples[i]!.lag <= samples[i - 1]!.lag, 'the confirmed position only moves forward');
      const onStream = (await probes(p).streamChanges()).filter((c) => c.event.key.order_id === order);
      assert.ok(onStream.length >= changes, `every change is on the stream (${onStream.length})`);
    } finally {
      await sampler.end();
      await p.stop();
      const c = await connect();
      await c.query('DELETE FROM order_items WHERE order_id = $1', [order]);
      await c.end();
    }
  });

  it('dead-letters a change over the Kinesis record limit (claim check, alert) and moves on', async function () {
    this.timeout(180_000);
    const p = await startTestPipeline({}, { readers: false });
    const probe = probes(p);
    const sku = unique('HUGE');
    const after = unique('AFTER');
    try {
      // REPLICA IDENTITY FULL: an update carries the whole old row and the new one, 2 × 600 KB.
      const randomText = `(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 19000))`;
      await p.pg.query(
        `INSERT INTO products (product_id, name, price, description) VALUES ($1, 'huge', 1, ${randomText})`,
        [sku],
      );
      await p.pg.query(`UPDATE products SET description = ${randomText} WHERE product_id = $1`, [sku]);
      const updateLsn = await currentLsn(p.pg);
      await p.pg.query(`INSERT INTO products (product_id, name, price) VALUES ($1, 'after', 1)`, [after]);
      const t0 = Date.now();

      const next = await waitFor('the change after the oversize one on the stream', async () =>
        (await probe.streamChanges()).find((c) => c.event.key.product_id === after),
      );
      const seconds = (Date.now() - t0) / 1000;
      const onStream = (await probe.streamChanges()).filter((c) => c.event.key.product_id === sku);
      assert.deepEqual(
        onStream.map((c) => c.event.op),
        ['c'],
        'the insert (600 KB) is on the stream, the update (1.2 MB) is not',
      );
      await waitFor('the slot to be confirmed past the oversize change', async () =>
        (await confirmedPast(p.pg, p.config.slot, updateLsn)) ? true : undefined,
      );

      const { doc, s3 } = awsClients();
      const item = await waitFor('the capture dead letter', async () => {
        const { Items } = await doc.send(
          new ScanCommand({
            TableName: p.config.tables.dlq,
            FilterExpression: '#s = :capture',
            ExpressionAttributeNames: { '#s': 'source' },
            ExpressionAttributeValues: { ':capture': 'capture' },
            ConsistentRead: true,
          }),
        );
        return Items?.[0];
      });
      assert.equal(item.pk, captureDeadLetterKey(p.config.slot, String(item.lsn), Number(item.index)));
      const again = (await doc.send(new GetCommand({ TableName: p.config.tables.dlq, Key: { pk: item.pk } })))
        .Item!;
      assert.equal(again.category, 'permanent');
      assert.equal(again.status, 'PARKED');
      assert.equal(again.table, 'public.products');
      assert.equal(again.op, 'u');
      assert.notEqual(next.event.source.lsn, again.lsn, 'the next change is a later transaction');
      assert.match(
        String(again.reason),
        /public\.products at commit LSN .*: the stream record is \d+ bytes; Kinesis takes at most 1048576/,
      );
      assert.doesNotMatch(String(again.reason), /[0-9a-f]{32}/, 'no column value in the reason');
      assert.ok(Number(again.rawBytes) > MiB, `raw record ${again.rawBytes} bytes`);
      const object = await s3.send(
        new GetObjectCommand({ Bucket: String(again.rawS3Bucket), Key: String(again.rawS3Key) }),
      );
      const stored = Buffer.from(await object.Body!.transformToByteArray());
      assert.equal(stored.length, Number(again.rawBytes) + 28, 'encrypted at rest: nonce, ciphertext, tag');
      const { bytes } = await readDeadLetterRaw({ aws: awsClients(), keyring: keyringFromEnv() }, again);
      assert.equal(bytes.length, Number(again.rawBytes));
      const event = JSON.parse(bytes.toString('utf8')) as {
        key: { product_id: string };
        before: object;
        after: object;
      };
      assert.equal(event.key.product_id, sku, 'the object holds the encoded change event');
      assert.ok(event.before && event.after);

      const alert = await probe.receiveUntil(
        eventRouting(p.config.eventBus).queues.alerts,
        (b) =>
          b['detail-type'] === 'alert.dead_letter' &&
          (b.detail as { entityId?: string }).entityId === item.pk,
      );
      assert.equal(
        (alert.detail as { details: { shardId: string } }).details.shardId,
        `capture:${p.config.slot}`,
      );
      console.log(
        `      capture dead letter: a ${(Number(again.rawBytes) / MiB).toFixed(2)} MiB change parked (S3 claim check) and capture went on in ${seconds.toFixed(1)} s`,
      );
    } finally {
      await p.stop();
      const c = await connect();
      await c.query('DELETE FROM products WHERE product_id = ANY($1)', [[sku, after]]);
      await c.end();
    }
  });

  it('pins the session settings: a role with DateStyle SQL, DMY (and other defaults) still streams exact values', async function () {
    this.timeout(180_000);
    const role = `cdc_ds_${Date.now().toString(36)}`;
    const admin = await connect();
    const savedUser = process.env.PGUSER;
    let p: TestPipeline | undefined;
    const userId = unique('ds-');
    try {
      await admin.query(`CREATE ROLE ${role} SUPERUSER LOGIN REPLICATION`);
      // Everything the type decoder depends on set otherwise for the role capture connects as.
      for (const setting of [
        `datestyle = 'SQL, DMY'`,
        `intervalstyle = 'sql_standard'`,
        `extra_float_digits = 0`,
        `bytea_output = 'escape'`,
        `timezone = 'Asia/Kolkata'`,
      ])
        await admin.query(`ALTER ROLE ${role} SET ${setting}`);
      const check = await connect(role);
      const shown = (await check.query<{ d: string }>(`SELECT '2026-01-02'::date::text AS d`)).rows[0].d;
      await check.end();
      assert.equal(shown, '02/01/2026', 'the role really has DateStyle SQL, DMY');

      process.env.PGUSER = role;
      p = await startTestPipeline({}, { readers: false });
      await admin.query(
        `INSERT INTO users (id, email, date_of_birth, created_at) VALUES ($1, 'x@example.com', '1990-12-31', '2026-01-02 03:04:05.123456+00')`,
        [userId],
      );
      const probe = probes(p);
      const change = await waitFor('the user on the stream', async () =>
        (await probe.streamChanges()).find((c) => c.event.key.id === userId),
      );
      assert.equal(change.event.after!.date_of_birth, '1990-12-31');
      assert.equal(change.event.after!.created_at, '2026-01-02T03:04:05.123456Z');
      const { doc } = awsClients();
      const { Count } = await doc.send(new ScanCommand({ TableName: p.config.tables.dlq, Select: 'COUNT' }));
      assert.equal(Count, 0, 'nothing dead-lettered');
    } finally {
      if (savedUser === undefined) delete process.env.PGUSER;
      else process.env.PGUSER = savedUser;
      await p?.stop();
      await admin.query('DELETE FROM users WHERE id = $1', [userId]);
      await admin.query(`DROP OWNED BY ${role}`).catch(() => undefined);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });
});
