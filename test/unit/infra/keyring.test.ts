import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKeyring,
  ensureKeyFile,
  keyringFromEnv,
  keyringFromFile,
  KeyringError,
  open,
  parseKeyList,
  seal,
} from '../../../infra/codec/keyring';

const key = () => randomBytes(32);
const b64 = (b: Buffer) => b.toString('base64');

describe('keyring: seal and open (AES-256-GCM)', () => {
  const k1 = key();
  const k2 = key();
  const ring = createKeyring([{ id: 'k1', key: k1 }]);
  const plaintext = Buffer.from('{"email":"ada@example.com","ssn":"123-45-6789"}');

  it('round-trips, with nonce | ciphertext | tag and the sealing key id', () => {
    const sealed = seal(ring, plaintext);
    assert.equal(sealed.keyId, 'k1');
    assert.equal(sealed.ciphertext.length, 12 + plaintext.length + 16);
    assert.ok(!Buffer.from(sealed.ciphertext).includes(Buffer.from('ada@example.com')));
    assert.deepEqual(Buffer.from(open(ring, sealed)), plaintext);
  });

  it('uses a fresh nonce each time', () => {
    const a = seal(ring, plaintext);
    const b = seal(ring, plaintext);
    assert.notDeepEqual(Buffer.from(a.ciphertext), Buffer.from(b.ciphertext));
  });

  it('refuses tampered data, a tampered tag and the wrong associated data', () => {
    const sealed = seal(ring, plaintext, Buffer.from('ctx-a'));
    for (const at of [0, 20, sealed.ciphertext.length - 1]) {
      const bad = Buffer.from(sealed.ciphertext);
      bad[at] ^= 1;
      assert.throws(() => open(ring, { ...sealed, ciphertext: bad }, Buffer.from('ctx-a')), KeyringError);
    }
    assert.throws(() => open(ring, sealed, Buffer.from('ctx-b')), /does not authenticate with key "k1"/);
    assert.throws(() => open(ring, sealed), /does not authenticate/);
    assert.deepEqual(Buffer.from(open(ring, sealed, Buffer.from('ctx-a'))), plaintext);
  });

  it('refuses truncated data', () => {
    assert.throws(() => open(ring, { keyId: 'k1', ciphertext: new Uint8Array(10) }), /too short/);
  });

  it('names an unknown key id', () => {
    const other = createKeyring([{ id: 'k9', key: key() }]);
    assert.throws(() => open(ring, seal(other, plaintext)), /no key "k9" in the keyring \(it has: k1\)/);
  });

  it('rotates: the new first key seals, the old one still opens', () => {
    const old = seal(ring, plaintext);
    const rotated = createKeyring([
      { id: 'k2', key: k2 },
      { id: 'k1', key: k1 },
    ]);
    const fresh = seal(rotated, plaintext);
    assert.equal(fresh.keyId, 'k2');
    assert.deepEqual(Buffer.from(open(rotated, old)), plaintext);
    assert.deepEqual(Buffer.from(open(rotated, fresh)), plaintext);
    assert.throws(() => open(ring, fresh), /no key "k2"/); // the old keyring cannot read new data
  });

  it('a key of the same id but other material does not open', () => {
    const impostor = createKeyring([{ id: 'k1', key: key() }]);
    assert.throws(() => open(impostor, seal(ring, plaintext)), /does not authenticate with key "k1"/);
  });

  it('validates keys: 32 bytes, unique ids, sane ids', () => {
    assert.throws(() => createKeyring([]), /no keys/);
    assert.throws(() => createKeyring([{ id: 'a', key: randomBytes(16) }]), /must be 32 bytes \(got 16\)/);
    assert.throws(
      () =>
        createKeyring([
          { id: 'a', key: key() },
          { id: 'a', key: key() },
        ]),
      /"a" appears twice/,
    );
    assert.throws(() => createKeyring([{ id: 'a b', key: key() }]), /key id "a b"/);
  });
});

describe('keyring sources', () => {
  const k1 = key();
  const k2 = key();
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'keyring-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('CDC_PAYLOAD_KEYS: keyId:base64 entries, the first seals', () => {
    const ring = keyringFromEnv({ CDC_PAYLOAD_KEYS: ` new:${b64(k2)} , old:${b64(k1)}` });
    assert.equal(ring.currentKeyId, 'new');
    assert.deepEqual([...ring.keys.keys()], ['new', 'old']);
    assert.deepEqual(ring.keys.get('old'), k1);
  });

  it('CDC_PAYLOAD_KEYS: clear errors, without key material', () => {
    assert.throws(() => parseKeyList('justakey'), /CDC_PAYLOAD_KEYS: entry 1 is not keyId:base64/);
    assert.throws(
      () => parseKeyList(`k1:${b64(randomBytes(16))}`),
      /key "k1" must be 32 bytes in base64 \(got 16 bytes\)/,
    );
    assert.throws(() => parseKeyList('k1:not base64!'), /key "k1" must be base64/);
    assert.throws(() => parseKeyList(`:${b64(k1)}`), /entry 1, key id ""/);
    assert.throws(() => parseKeyList(`a:${b64(k1)},a:${b64(k2)}`), /"a" appears twice/);
    assert.throws(() => parseKeyList(' , '), /CDC_PAYLOAD_KEYS is empty/);
    try {
      parseKeyList(`k1:${b64(randomBytes(31))}`);
    } catch (err) {
      assert.ok(!(err as Error).message.includes(b64(k1)));
    }
  });

  it('CDC_PAYLOAD_KEY_FILE: {"keys":[{id,key}]}, extra fields allowed, the first seals', () => {
    const path = join(dir, 'keys.json');
    writeFileSync(
      path,
      JSON.stringify({
        keys: [
          { id: 'b', key: b64(k2), created: 'x' },
          { id: 'a', key: b64(k1) },
        ],
        note: 'hi',
      }),
    );
    const ring = keyringFromEnv({ CDC_PAYLOAD_KEY_FILE: path });
    assert.equal(ring.currentKeyId, 'b');
    assert.deepEqual(ring.keys.get('a'), k1);
  });

  it('CDC_PAYLOAD_KEY_FILE: clear errors naming the file and the place', () => {
    const path = join(dir, 'bad.json');
    assert.throws(
      () => keyringFromFile(join(dir, 'missing.json')),
      /CDC_PAYLOAD_KEY_FILE=.*missing\.json: cannot read it/,
    );
    writeFileSync(path, '{not json');
    assert.throws(() => keyringFromFile(path), /bad\.json: not valid JSON/);
    writeFileSync(path, JSON.stringify({ keys: [] }));
    assert.throws(() => keyringFromFile(path), /keys: needs at least one key/);
    writeFileSync(path, JSON.stringify({ keys: [{ id: 'a', key: b64(randomBytes(8)) }] }));
    assert.throws(() => keyringFromFile(path), /keys\.0\.key: must be 32 bytes in base64 \(got 8 bytes\)/);
    writeFileSync(path, JSON.stringify({ key: b64(k1) }));
    assert.throws(() => keyringFromFile(path), /keys: .*expected \{"keys"/);
  });

  it('neither variable: an error naming both; both: an error too', () => {
    assert.throws(() => keyringFromEnv({}), /set CDC_PAYLOAD_KEYS .* or CDC_PAYLOAD_KEY_FILE/);
    assert.throws(
      () => keyringFromEnv({ CDC_PAYLOAD_KEYS: '', CDC_PAYLOAD_KEY_FILE: '' }),
      /no payload encryption key/,
    );
    assert.throws(
      () => keyringFromEnv({ CDC_PAYLOAD_KEYS: `a:${b64(k1)}`, CDC_PAYLOAD_KEY_FILE: '/x' }),
      /both CDC_PAYLOAD_KEYS and CDC_PAYLOAD_KEY_FILE are set/,
    );
  });

  it('ensureKeyFile creates a 0600 file with one random key once, then keeps it', () => {
    const path = join(dir, 'generated.json');
    assert.equal(ensureKeyFile(path, 'local-1'), true);
    const first = readFileSync(path, 'utf8');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(ensureKeyFile(path, 'local-1'), false);
    assert.equal(readFileSync(path, 'utf8'), first);
    const ring = keyringFromFile(path);
    assert.equal(ring.currentKeyId, 'local-1');
    assert.equal(ring.keys.get('local-1')?.length, 32);
  });
});
