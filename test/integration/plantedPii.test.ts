import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { Client } from '@temporalio/client';
import { awsClients } from '../../infra/aws';
import { eventRouting } from '../../infra/provisioning';
import { logFile, PORTS, ROOT } from '../../infra/localStack/localStack';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

/**
 * Issue 9's acceptance test: rows with unique sensitive values in every table that has rules
 * flow through the pipeline (one dead-letters, one goes STUCK first), then every place the
 * pipeline writes is read for those values: Temporal's database file byte by byte, `temporal
 * workflow show` of every workflow (without the codec), the DLQ, entity and state items, every
 * SQS queue the bus feeds (plus a catch-all one), and the worker's log. Each place also has a
 * control value that must be found there, so the test can fail.
 */
describe('planted PII: sensitive values never leave the pipeline unredacted', function () {
  this.timeout(420_000);
  let p: TestPipeline;
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 10)).join('');
  const mark = (what: string) => `pii${what}${run}`;
  const octet = () => 1 + Math.floor(Math.random() * 250);
  const ip = () => `10.${octet()}.${octet()}.${octet()}`;
  /** Every sensitive value planted, by where it was planted. */
  const planted: Record<string, string> = {};
  const plant = (where: string, value: string) => ((planted[where] = value), value);
  const catchAllQueue = `cdc-test-all-${run}`;

  before(async function () {
    this.timeout(240_000);
    p = await startTestPipeline({ idleWaitMs: 1_000 }, { workerProcess: true, eventBridgeOutage: true });
  });
  after(async () => {
    await p?.stop();
  });

  /** A queue that receives every event of the bus (the provisioned rules route only some tables). */
  async function addCatchAllQueue(): Promise<string> {
    const { sqs, events } = awsClients();
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: catchAllQueue }))).QueueUrl!;
    const arn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))
    ).Attributes!.QueueArn!;
    await events.send(
      new PutRuleCommand({
        Name: `${p.config.eventBus}-all`,
        EventBusName: p.config.eventBus,
        EventPattern: JSON.stringify({ source: [{ prefix: 'cdc-pipeline' }] }),
        State: 'ENABLED',
      }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: `${p.config.eventBus}-all`,
        EventBusName: p.config.eventBus,
        Targets: [{ Id: 'all', Arn: arn }],
      }),
    );
    return url;
  }

  async function drain(url: string): Promise<string[]> {
    const bodies: string[] = [];
    for (let empty = 0; empty < 2;) {
      const out = await awsClients().sqs.send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      if (!out.Messages?.length) empty++;
      for (const m of out.Messages ?? []) bodies.push(m.Body ?? '');
    }
    return bodies;
  }

  async function scan(table: string): Promise<string> {
    const items: unknown[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await awsClients().doc.send(
        new ScanCommand({ TableName: table, ExclusiveStartKey: start }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return JSON.stringify(items);
  }

  /** Text plus every base64-looking string decoded, so an unencrypted payload is found either way. */
  function withDecodedStrings(text: string): string {
    const decoded = [...text.matchAll(/"([A-Za-z0-9+/]{16,}={0,2})"/g)].map((m) =>
      Buffer.from(m[1]!, 'base64').toString('latin1'),
    );
    return [text, ...decoded].join('\n');
  }

  const hits = (haystack: string | Buffer) =>
    Object.entries(planted)
      .filter(([, v]) => haystack.includes(v))
      .map(([where]) => where);

  it('plants values in every table with rules and finds none of them anywhere it looks', async () => {
    const probe = probes(p);
    const user = `u-${run}`;

    // 0. Control: a workflow started WITHOUT the codec leaves its input readable in the database
    // file, so the byte search below can find a value that was not encrypted.
    const unencrypted = `control-${run}-plain`;
    const plain = new Client({ connection: p.client.connection });
    const control = await plain.workflow.start('noSuchWorkflow', {
      taskQueue: `pii-control-${run}`,
      workflowId: `pii-control-${run}`,
      args: [{ marker: unencrypted }],
    });
    await control.terminate('control only');

    // 1. A users row goes STUCK first (EventBridge down), and the status never shows its values or its key.
    await p.eventBridge!.down(); // EventBridge down for this pipeline only
    try {
      await p.pg.query(
        `INSERT INTO users (id, email, phone, full_name, ssn, password_hash, date_of_birth, status)
         VALUES ($1, $2, $3, $4, $5, $6, '1980-02-03', $7)`,
        [
          user,
          plant('users.email', `${mark('mail')}@example.com`),
          plant('users.phone', `+1-555-${digits(7)}`),
          plant('users.full_name', `Name ${mark('name')}`),
          plant('users.ssn', `${digits(3)}-${digits(2)}-${digits(4)}`),
          plant('users.password_hash', `$2b$12$${mark('pwhash')}`),
          `active-${run}`,
        ],
      );
      const stuck = await waitFor(
        'a shard STUCK on the users row',
        async () =>
          (await probe.allShardStatuses()).find((s) => s.state === 'STUCK' && s.trouble?.table === 'users'),
        { timeoutMs: 90_000 },
      );
      assert.match(String(stuck.trouble?.entityId), /^hash:[0-9a-f]{16}$/, 'a sensitive key is shown hashed');
      const meta = await probe
        .shardHandle(stuck.shardId)
        .query<{ currentDetails: string }>('__temporal_workflow_metadata');
      assert.deepEqual(hits(meta.currentDetails), [], 'current details');
      assert.ok(!meta.currentDetails.includes(user), 'current details do not name the users key');
    } finally {
      await p.eventBridge!.up();
    }
    const catchAll = await addCatchAllQueue();

    // 2. Every other table with rules, and an update that changes a masked value.
    const q = (sql: string, values: unknown[]) => p.pg.query(sql, values);
    await q(`UPDATE users SET email = $2 WHERE id = $1`, [
      user,
      plant('users.email2', `${mark('new')}@example.com`),
    ]);
    await q(
      `INSERT INTO orders (order_id, user_id, status, total_amount, payment_details, shipping_address)
       VALUES ($1, $2, $3, 10.005, $4, $5)`,
      [
        `o-${run}`,
        user,
        `placed-${run}`,
        JSON.stringify({ card: plant('orders.payment_details', `${mark('card')}`) }),
        plant('orders.shipping_address', `1 ${mark('street')} Road`),
      ],
    );
    await q(
      `INSERT INTO sessions (session_id, user_id, token, ip_address, user_agent) VALUES ($1, $2, $3, $4, $5)`,
      [
        `s-${run}`,
        user,
        plant('sessions.token', mark('token')),
        plant('sessions.ip_address', ip()),
        plant('sessions.user_agent', `Mozilla ${mark('agent')}`),
      ],
    );
    await q(
      `INSERT INTO transactions (txn_id, order_id, amount, card_number, account_number, status) VALUES ($1, $2, 10.00, $3, $4, 'OK')`,
      [
        `t-${run}`,
        `o-${run}`,
        plant('transactions.card_number', `4${digits(15)}`),
        plant('transactions.account_number', mark('acct')),
      ],
    );
    await q(
      `INSERT INTO customers (customer_id, email, phone, name, address, tax_id) VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        `c-${run}`,
        plant('customers.email', `${mark('cmail')}@example.org`),
        plant('customers.phone', `+44-20-${digits(8)}`),
        plant('customers.name', `Cust ${mark('cname')}`),
        plant('customers.address', `2 ${mark('caddr')} Street`),
        plant('customers.tax_id', `TX${digits(9)}`),
      ],
    );
    await q(
      `INSERT INTO shipments (shipment_id, order_id, carrier, address, status) VALUES ($1, $2, 'ups', $3, 'NEW')`,
      [`sh-${run}`, `o-${run}`, plant('shipments.address', `3 ${mark('saddr')} Avenue`)],
    );
    await q(
      `INSERT INTO reviews (review_id, product_id, user_id, rating, body, reviewer_email) VALUES ($1, 'p1', $2, 5, 'ok', $3)`,
      [`r-${run}`, user, plant('reviews.reviewer_email', `${mark('rmail')}@example.net`)],
    );
    const audit = await q(
      `INSERT INTO audit_logs (actor, action, ip_address) VALUES ('ops', 'login', $1) RETURNING log_id`,
      [plant('audit_logs.ip_address', ip())],
    );
    await q(`INSERT INTO configurations (config_key, value, secret_value) VALUES ($1, '{}', $2)`, [
      `k-${run}`,
      plant('configurations.secret_value', mark('secret')),
    ]);

    // 3. A record that dead-letters (a bad created_at), carrying PII of its own.
    const [poison] = await probe.putRaw([
      {
        partitionKey: `users:${run}`,
        data: JSON.stringify({
          tableName: 'users',
          operation: 'INSERT',
          timestamp: new Date().toISOString(),
          beforeImage: null,
          afterImage: {
            id: `u2-${run}`,
            email: plant('dlq.email', `${mark('dlqmail')}@example.com`),
            ssn: plant('dlq.ssn', `${digits(3)}-${digits(2)}-${digits(4)}`),
            created_at: 'not a date',
          },
        }),
      },
    ]);

    // 4. Everything arrives.
    const expected: [string, string][] = [
      ['users', user],
      ['orders', `o-${run}`],
      ['sessions', `s-${run}`],
      ['transactions', `t-${run}`],
      ['customers', `c-${run}`],
      ['shipments', `sh-${run}`],
      ['reviews', `r-${run}`],
      ['audit_logs', String(audit.rows[0].log_id)],
      ['configurations', `k-${run}`],
    ];
    for (const [table, id] of expected)
      await waitFor(`${table} ${id} in DynamoDB`, () => probe.entity(table, id), { timeoutMs: 90_000 });
    const newLocal = planted['users.email2']!.split('@')[0]!;
    const masked = `p${'*'.repeat(newLocal.length - 1)}@example.com`;
    await waitFor('the users update applied', async () => {
      const e = await probe.entity('users', user);
      return (e?.row as Record<string, unknown> | undefined)?.email === masked ? e : undefined;
    });
    const letter = await waitFor('the poison users record in the DLQ', () =>
      probe.dlq(poison!.shardId, poison!.sequenceNumber),
    );
    assert.equal(letter.category, 'poison');
    // The batch's remaining steps done and in the history: the shard's checkpoint is past the poison record.
    await waitFor('the shard checkpointed past the poison record', async () => {
      const status = await probe.shardStatus(poison!.shardId);
      return status.checkpoint !== undefined && BigInt(status.checkpoint) >= BigInt(poison!.sequenceNumber)
        ? true
        : undefined;
    });

    // 5. Read everything, with a control value for each place.
    const found: Record<string, string[]> = {};
    const temporalDir = dirname(logFile('temporal'));
    const dbFiles = ['temporal.db', 'temporal.db-wal'].map((f) => join(temporalDir, f)).filter(existsSync);
    const db = Buffer.concat(dbFiles.map((f) => readFileSync(f)));
    assert.ok(db.includes(p.config.taskQueue), "control: the task queue's name is in Temporal's database");
    assert.ok(db.includes(unencrypted), 'control: an unencrypted payload is readable in the database file');
    found['Temporal database'] = hits(db);

    const ids: string[] = [];
    for await (const wf of p.client.workflow.list({ query: `TaskQueue = '${p.config.taskQueue}'` }))
      ids.push(wf.workflowId);
    assert.ok(ids.length >= 3, `workflows of this pipeline: ${ids.join(', ')}`);
    const temporal = join(ROOT, '.cache', 'venv', 'bin', 'temporal');
    let shown = '';
    for (const id of ids) {
      const r = spawnSync(
        temporal,
        ['workflow', 'show', '-w', id, '--output', 'json', '--address', `127.0.0.1:${PORTS.temporal}`],
        { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 },
      );
      assert.equal(r.status, 0, r.stderr);
      shown += r.stdout;
    }
    const shownDecoded = withDecodedStrings(shown);
    assert.ok(shownDecoded.includes('binary/encrypted'), 'control: payloads are shown as encrypted');
    assert.ok(shownDecoded.includes('prepareBatch'), 'control: activity names are readable');
    found['temporal workflow show'] = hits(shownDecoded);

    const dlq = await scan(p.config.tables.dlq);
    assert.ok(dlq.includes('ISO_DATE'), "control: the DLQ holds the poison record's reason");
    found.DLQ = hits(dlq);
    const entities = await scan(p.config.tables.entities);
    assert.ok(entities.includes(`placed-${run}`), 'control: an unredacted column is in the entities table');
    found.entities = hits(entities);
    found.state = hits(await scan(p.config.tables.state));

    const queues = [...Object.values(eventRouting(p.config.eventBus).queues)];
    let messages = '';
    for (const name of queues) {
      const { QueueUrl } = await awsClients().sqs.send(new CreateQueueCommand({ QueueName: name }));
      messages += (await drain(QueueUrl!)).join('\n');
    }
    const all = (await drain(catchAll)).join('\n');
    assert.ok(all.includes(`placed-${run}`), 'control: the catch-all queue got the orders event');
    assert.ok(all.includes(masked), 'control: the masked e-mail is published');
    found.SQS = hits(messages + all);

    const log = readFileSync(join(ROOT, '.stack', `worker-${p.config.taskQueue}.log`), 'utf8');
    found['worker log'] = hits(log);

    for (const [place, where] of Object.entries(found))
      console.log(`      ${place}: ${where.length} hits of ${Object.keys(planted).length} planted values`);
    assert.deepEqual(found, Object.fromEntries(Object.keys(found).map((k) => [k, []])));
  });
});
