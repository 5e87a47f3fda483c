import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { createKeyring, KeyringError } from '../../../infra/codec/keyring';
import { dataConverter, EncryptionCodec, isEncrypted } from '../../../infra/codec/payloadCodec';

const meta = (p: Payload, key: string) => Buffer.from(p.metadata?.[key] ?? new Uint8Array()).toString();

describe('payload encryption codec', () => {
  const k1 = { id: 'k1', key: randomBytes(32) };
  const k2 = { id: 'k2', key: randomBytes(32) };
  const codec = new EncryptionCodec(createKeyring([k1]));
  const marker = `pii-${randomBytes(6).toString('hex')}`;
  const row = { email: `${marker}@example.com`, ssn: '123-45-6789', qty: 3 };
  const plain = defaultPayloadConverter.toPayload(row);

  it('round-trips a payload, metadata and data', async () => {
    const [encoded] = await codec.encode([plain]);
    const [decoded] = await codec.decode([encoded]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(decoded), row);
    assert.equal(meta(decoded, 'encoding'), 'json/plain');
  });

  it('encodes to binary/encrypted with the key id, and no plaintext anywhere', async () => {
    const [encoded] = await codec.encode([plain]);
    assert.equal(meta(encoded, 'encoding'), 'binary/encrypted');
    assert.equal(meta(encoded, 'encryption-key-id'), 'k1');
    assert.deepEqual(Object.keys(encoded.metadata ?? {}).sort(), ['encoding', 'encryption-key-id']);
    assert.ok(isEncrypted(encoded));
    const all = Buffer.concat([Buffer.from(encoded.data ?? []), ...Object.values(encoded.metadata ?? {})]);
    for (const s of [marker, '123-45-6789', 'json/plain']) assert.ok(!all.includes(Buffer.from(s)), s);
  });

  it('round-trips many payloads in order, including empty and binary ones', async () => {
    const payloads = [
      defaultPayloadConverter.toPayload(undefined),
      defaultPayloadConverter.toPayload(new Uint8Array([0, 1, 2, 255])),
      defaultPayloadConverter.toPayload('x'.repeat(100_000)),
      plain,
    ];
    const decoded = await codec.decode(await codec.encode(payloads));
    assert.deepEqual(
      decoded.map((p) => defaultPayloadConverter.fromPayload(p)),
      payloads.map((p) => defaultPayloadConverter.fromPayload(p)),
    );
  });

  it('rotation: a codec with a new first key decodes old payloads and encodes with the new key', async () => {
    const [old] = await codec.encode([plain]);
    const rotated = new EncryptionCodec(createKeyring([k2, k1]));
    const [fresh] = await rotated.encode([plain]);
    assert.equal(meta(fresh, 'encryption-key-id'), 'k2');
    for (const p of [old, fresh])
      assert.deepEqual(defaultPayloadConverter.fromPayload((await rotated.decode([p]))[0]), row);
    await assert.rejects(codec.decode([fresh]), /no key "k2" in the keyring/);
  });

  it('refuses a tampered payload', async () => {
    const [encoded] = await codec.encode([plain]);
    const data = Buffer.from(encoded.data ?? []);
    data[30] ^= 0x40;
    await assert.rejects(codec.decode([{ ...encoded, data }]), KeyringError);
  });

  it('refuses an encrypted payload without key id', async () => {
    const [encoded] = await codec.encode([plain]);
    await assert.rejects(
      codec.decode([{ metadata: { encoding: Buffer.from('binary/encrypted') }, data: encoded.data }]),
      /without the encryption-key-id/,
    );
  });

  it('passes unencrypted payloads through on decode (histories from before encryption)', async () => {
    const [decoded] = await codec.decode([plain]);
    assert.equal(decoded, plain);
    const noMetadata: Payload = { data: Buffer.from('raw') };
    assert.equal((await codec.decode([noMetadata]))[0], noMetadata);
  });

  it('dataConverter(): the codec plus a failure converter that encodes messages', () => {
    const converter = dataConverter(createKeyring([k1]));
    assert.equal(converter.payloadCodecs?.length, 1);
    assert.ok(converter.payloadCodecs?.[0] instanceof EncryptionCodec);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { failureConverter } = require(
      converter.failureConverterPath ?? '',
    ) as typeof import('../../../infra/codec/failureConverter');
    assert.equal(failureConverter.options.encodeCommonAttributes, true);
  });
});
