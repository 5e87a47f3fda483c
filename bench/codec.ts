/**
 * The cost of payload encryption (infra/codec): CPU time of encode + decode per payload for
 * typical sizes, throughput, and the bytes the codec adds. `npx tsx bench/codec.ts
 * [--seconds 1]` (a random key; no services needed).
 */
import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { createKeyring } from '../infra/codec/keyring';
import { EncryptionCodec } from '../infra/codec/payloadCodec';

const SIZES = [
  ['1 KB', 1024],
  ['10 KB', 10 * 1024],
  ['100 KB', 100 * 1024],
  ['1 MB', 1024 * 1024],
] as const;

/** A JSON payload of about `bytes`: rows like the pipeline's pull results. */
function payloadOf(bytes: number): Payload {
  const rows: unknown[] = [];
  let size = 2;
  for (let i = 0; size < bytes; i++) {
    const row = {
      sku: `SKU-${i}`,
      warehouse_id: i % 17,
      email: `user${i}@example.com`,
      ssn: '123-45-6789',
      note: randomBytes(24).toString('base64'),
    };
    rows.push(row);
    size += JSON.stringify(row).length + 1;
  }
  return defaultPayloadConverter.toPayload(rows);
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

async function main(): Promise<void> {
  const i = process.argv.indexOf('--seconds');
  const seconds = i > 0 ? Number(process.argv[i + 1]) : 1;
  const codec = new EncryptionCodec(createKeyring([{ id: 'bench', key: randomBytes(32) }]));
  console.log(
    `payload encryption cost (AES-256-GCM, Node ${process.version}, ${seconds}s per size, 1 payload per call)`,
  );
  console.log(
    'size      payload B   +bytes   encode µs   decode µs   enc+dec µs   CPU µs/payload   MB/s (enc+dec)   payloads/s',
  );
  for (const [label, bytes] of SIZES) {
    const payload = payloadOf(bytes);
    const size = payload.data?.length ?? 0;
    // warm-up
    for (let w = 0; w < 20; w++) await codec.decode(await codec.encode([payload]));
    const [sample] = await codec.encode([payload]);
    const overhead =
      (sample.data?.length ?? 0) +
      Object.entries(sample.metadata ?? {}).reduce((n, [k, v]) => n + k.length + v.length, 0) -
      size -
      Object.entries(payload.metadata ?? {}).reduce((n, [k, v]) => n + k.length + v.length, 0);
    let n = 0;
    let encNs = 0n;
    let decNs = 0n;
    const cpu0 = process.cpuUsage();
    const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
    while (process.hrtime.bigint() < deadline) {
      const t0 = process.hrtime.bigint();
      const enc = await codec.encode([payload]);
      const t1 = process.hrtime.bigint();
      await codec.decode(enc);
      const t2 = process.hrtime.bigint();
      encNs += t1 - t0;
      decNs += t2 - t1;
      n++;
    }
    const cpu = cpuMs(process.cpuUsage(cpu0));
    const enc = Number(encNs) / 1e3 / n;
    const dec = Number(decNs) / 1e3 / n;
    const mbps = (size * n) / (1024 * 1024) / (Number(encNs + decNs) / 1e9);
    console.log(
      [
        label.padEnd(8),
        String(size).padStart(10),
        String(overhead).padStart(8),
        enc.toFixed(1).padStart(11),
        dec.toFixed(1).padStart(11),
        (enc + dec).toFixed(1).padStart(12),
        ((cpu * 1000) / n).toFixed(1).padStart(16),
        mbps.toFixed(0).padStart(16),
        (n / (Number(encNs + decNs) / 1e9)).toFixed(0).padStart(12),
      ].join('  '),
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
