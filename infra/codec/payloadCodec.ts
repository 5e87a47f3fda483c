/**
 * Encryption of Temporal payloads: workflow and activity inputs and results, signal and query
 * arguments, memos, and (with the failure converter of ./failureConverter.ts) failure messages
 * and stack traces. Temporal Server and its history only ever see ciphertext.
 *
 * An encoded payload has the metadata `encoding: binary/encrypted` and `encryption-key-id: <id>`
 * and as data the original payload (metadata and data, protobuf-encoded) sealed with the
 * keyring's current key (./keyring.ts). Decoding passes payloads that are not encrypted through
 * unchanged, so histories written before encryption was on still replay and show.
 */
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { keyringFromEnv, open, seal, type Keyring } from './keyring';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const METADATA_ENCODING_KEY = 'encoding';
export const METADATA_KEY_ID_KEY = 'encryption-key-id';
/** Associated data of every payload: a payload's ciphertext opens only as a payload. */
const PAYLOAD_AAD = Buffer.from('inventory-cdc/temporal-payload/v1');

const text = (b: Uint8Array | null | undefined) =>
  b ? Buffer.from(b.buffer, b.byteOffset, b.length).toString('utf8') : undefined;

/** Whether a payload is one this codec encrypted. */
export function isEncrypted(payload: Payload): boolean {
  return text(payload.metadata?.[METADATA_ENCODING_KEY]) === ENCRYPTED_ENCODING;
}

export class EncryptionCodec implements PayloadCodec {
  constructor(readonly keyring: Keyring) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const sealed = seal(this.keyring, plain, PAYLOAD_AAD);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING),
          [METADATA_KEY_ID_KEY]: Buffer.from(sealed.keyId),
        },
        data: sealed.ciphertext,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (!isEncrypted(payload)) return payload;
      const keyId = text(payload.metadata?.[METADATA_KEY_ID_KEY]);
      if (!keyId) throw new Error(`encrypted payload without the ${METADATA_KEY_ID_KEY} metadata`);
      const plain = open(this.keyring, { keyId, ciphertext: payload.data ?? new Uint8Array() }, PAYLOAD_AAD);
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

/**
 * The data converter of every Temporal client and worker of the project: the encryption codec
 * (keys from `keyring`, by default the environment: CDC_PAYLOAD_KEYS or CDC_PAYLOAD_KEY_FILE)
 * and a failure converter that encodes messages and stack traces.
 */
export function dataConverter(keyring: Keyring = keyringFromEnv()): DataConverter {
  return {
    payloadCodecs: [new EncryptionCodec(keyring)],
    failureConverterPath: require.resolve('./failureConverter'),
  };
}
