/**
 * AES-256-GCM keys with ids, and the two operations on them: `seal` and `open`.
 *
 * A keyring holds one or more 32-byte keys, each with an id. The first key seals (encrypts);
 * every key opens (decrypts), so keys rotate without losing old data: put the new key first,
 * keep the old ones after it until nothing sealed with them remains.
 *
 * Sources (`keyringFromEnv`), validated, with errors that name the variable and the key id and
 * never print key material:
 * - `CDC_PAYLOAD_KEYS`: comma-separated `keyId:base64-of-32-bytes`, the first one seals;
 * - `CDC_PAYLOAD_KEY_FILE`: a JSON file `{ "keys": [{ "id": "…", "key": "<base64>" }, …] }`
 *   (other fields are allowed and ignored), the first key seals.
 *
 * Sealed data is `nonce (12 bytes) | ciphertext | tag (16 bytes)`, together with the id of the
 * key that sealed it. Optional associated data (AAD) is authenticated, not stored: `open` must
 * be given the same AAD `seal` was, so a ciphertext cannot be moved to another context (e.g.
 * from a Temporal payload into a dead-letter item) and still open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { z } from 'zod';

export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const ALGORITHM = 'aes-256-gcm';

export const PAYLOAD_KEYS_VAR = 'CDC_PAYLOAD_KEYS';
export const PAYLOAD_KEY_FILE_VAR = 'CDC_PAYLOAD_KEY_FILE';

/** A keyring problem: a missing or malformed key, an unknown key id, data that does not open. */
export class KeyringError extends Error {
  override name = 'KeyringError';
}

export interface Keyring {
  /** Id of the key `seal` uses (the first key of the source). */
  readonly currentKeyId: string;
  /** Every key by id (`open` uses the one the sealed data names). */
  readonly keys: ReadonlyMap<string, Buffer>;
}

export interface Sealed {
  /** Id of the key that sealed the data. */
  keyId: string;
  /** `nonce (12) | ciphertext | tag (16)`. */
  ciphertext: Uint8Array;
}

const keyIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,64}$/, 'a key id is 1-64 characters of A-Z a-z 0-9 . _ -');

/** Base64 (standard or URL-safe, padding optional) of exactly 32 bytes. */
const keyMaterialSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9+/_-]+={0,2}$/, 'must be base64')
  .transform((s) => Buffer.from(s, 'base64'))
  .refine((b) => b.length === KEY_BYTES, {
    error: (issue) => `must be ${KEY_BYTES} bytes in base64 (got ${(issue.input as Buffer).length} bytes)`,
  });

const keyFileSchema = z.object({
  keys: z.array(z.object({ id: keyIdSchema, key: keyMaterialSchema })).min(1, 'needs at least one key'),
});

/** A keyring from keys in order (the first seals). Ids must be unique and keys 32 bytes. */
export function createKeyring(keys: readonly { id: string; key: Uint8Array }[], source = 'keyring'): Keyring {
  if (keys.length === 0) throw new KeyringError(`${source}: no keys`);
  const map = new Map<string, Buffer>();
  for (const { id, key } of keys) {
    const parsedId = keyIdSchema.safeParse(id);
    if (!parsedId.success)
      throw new KeyringError(`${source}: key id "${id}": ${parsedId.error.issues[0].message}`);
    if (key.length !== KEY_BYTES)
      throw new KeyringError(`${source}: key "${id}" must be ${KEY_BYTES} bytes (got ${key.length})`);
    if (map.has(id)) throw new KeyringError(`${source}: key id "${id}" appears twice`);
    map.set(id, Buffer.from(key));
  }
  return { currentKeyId: keys[0].id, keys: map };
}

/**
 * Encrypts `plaintext` with the keyring's current key (AES-256-GCM, a random 96-bit nonce).
 * `aad`, if given, is authenticated too and must be passed to `open` again.
 */
export function seal(keyring: Keyring, plaintext: Uint8Array, aad?: Uint8Array): Sealed {
  const keyId = keyring.currentKeyId;
  const key = keyring.keys.get(keyId);
  if (!key) throw new KeyringError(`keyring has no key "${keyId}" (its current key)`);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
  if (aad) cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { keyId, ciphertext: Buffer.concat([nonce, body, cipher.getAuthTag()]) };
}

/**
 * Decrypts what `seal` produced, with the key it names (any key of the keyring, not only the
 * current one). Throws a `KeyringError` for an unknown key id (naming it) and for data, tag or
 * AAD that do not authenticate.
 */
export function open(keyring: Keyring, sealed: Sealed, aad?: Uint8Array): Uint8Array {
  const key = keyring.keys.get(sealed.keyId);
  if (!key)
    throw new KeyringError(
      `no key "${sealed.keyId}" in the keyring (it has: ${[...keyring.keys.keys()].join(', ')}); ` +
        `data sealed with a retired key needs that key back in ${PAYLOAD_KEYS_VAR} / ${PAYLOAD_KEY_FILE_VAR}`,
    );
  const data = Buffer.from(sealed.ciphertext.buffer, sealed.ciphertext.byteOffset, sealed.ciphertext.length);
  if (data.length < NONCE_BYTES + TAG_BYTES)
    throw new KeyringError(`sealed data with key "${sealed.keyId}" is too short (${data.length} bytes)`);
  const decipher = createDecipheriv(ALGORITHM, key, data.subarray(0, NONCE_BYTES), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
  if (aad) decipher.setAAD(aad);
  try {
    return Buffer.concat([
      decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    throw new KeyringError(
      `sealed data does not authenticate with key "${sealed.keyId}": it was altered, ` +
        `sealed with other associated data, or sealed with a different key of that id`,
    );
  }
}

/** Parses `keyId:base64,keyId:base64` (the format of CDC_PAYLOAD_KEYS). */
export function parseKeyList(text: string, source = PAYLOAD_KEYS_VAR): Keyring {
  const entries = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!entries.length) throw new KeyringError(`${source} is empty; expected keyId:base64-of-32-bytes[,…]`);
  const keys = entries.map((entry, i) => {
    const colon = entry.indexOf(':');
    if (colon < 0)
      throw new KeyringError(`${source}: entry ${i + 1} is not keyId:base64-of-32-bytes (no ':')`);
    const id = entry.slice(0, colon);
    const parsedId = keyIdSchema.safeParse(id);
    if (!parsedId.success)
      throw new KeyringError(
        `${source}: entry ${i + 1}, key id "${id}": ${parsedId.error.issues[0].message}`,
      );
    const key = keyMaterialSchema.safeParse(entry.slice(colon + 1));
    if (!key.success) throw new KeyringError(`${source}: key "${id}" ${key.error.issues[0].message}`);
    return { id, key: key.data };
  });
  return createKeyring(keys, source);
}

/** Reads a key file: `{ "keys": [{ "id": "…", "key": "<base64>" }, …] }`, the first key seals. */
export function keyringFromFile(path: string): Keyring {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KeyringError(`${PAYLOAD_KEY_FILE_VAR}=${path}: cannot read it (${(err as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new KeyringError(`${PAYLOAD_KEY_FILE_VAR}=${path}: not valid JSON`);
  }
  const parsed = keyFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // Never echo key material: name the place of the problem only.
    const where = issue.path.length ? issue.path.join('.') : '(top level)';
    throw new KeyringError(
      `${PAYLOAD_KEY_FILE_VAR}=${path}: ${where}: ${issue.message}; expected {"keys":[{"id":"…","key":"<base64 of 32 bytes>"}]}`,
    );
  }
  return createKeyring(parsed.data.keys, `${PAYLOAD_KEY_FILE_VAR}=${path}`);
}

/**
 * The keyring the environment configures: `CDC_PAYLOAD_KEYS` or `CDC_PAYLOAD_KEY_FILE` (exactly
 * one of them). Throws a `KeyringError` naming both when neither is set.
 */
export function keyringFromEnv(env: NodeJS.ProcessEnv = process.env): Keyring {
  const list = env[PAYLOAD_KEYS_VAR] ?? '';
  const file = env[PAYLOAD_KEY_FILE_VAR] ?? '';
  if (list && file)
    throw new KeyringError(`both ${PAYLOAD_KEYS_VAR} and ${PAYLOAD_KEY_FILE_VAR} are set; set only one`);
  if (list) return parseKeyList(list);
  if (file) return keyringFromFile(file);
  throw new KeyringError(
    `no payload encryption key: set ${PAYLOAD_KEYS_VAR} (comma-separated keyId:base64-of-32-bytes, ` +
      `the first encrypts) or ${PAYLOAD_KEY_FILE_VAR} (a JSON file {"keys":[{"id":"…","key":"<base64>"}]}, ` +
      `the first encrypts). Generate a key with: openssl rand -base64 32. ` +
      `(On the local stack the scripts fill ${PAYLOAD_KEY_FILE_VAR} themselves.)`,
  );
}

/** A new random key (32 bytes) in base64. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

/**
 * Creates a key file with one random key at `path` (mode 0600), unless one exists already (then
 * it is kept). Safe against processes racing to create it: the file appears complete or not at all.
 * Returns true when it created the file.
 */
export function ensureKeyFile(path: string, keyId: string): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const body = {
    keys: [{ id: keyId, key: generateKey(), created: new Date().toISOString() }],
    note: 'Temporal payload encryption keys of the local stack. The first key encrypts, all decrypt.',
  };
  writeFileSync(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  try {
    chmodSync(tmp, 0o600); // despite a umask
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}
