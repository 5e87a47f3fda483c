import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import { toEventEntry } from '../../../domain/publishing/eventEntry';
import type { JsonValue, Row } from '../../../domain/core/json';
import type { PipelineEvent } from '../../../domain/core/pipelineEvent';
import { redactEvent, redactionPolicy, redactValue } from '../../../domain/processing/redact';
import {
  parseTableFile,
  tableConfig,
  tableRegistry,
  useTables,
  type TableRegistry,
} from '../../../domain/core/tables';
import { transformChange } from '../../../domain/processing/transform';
import { ConfigurationError } from '../../../domain/core/errors';

const SECRET = 'test-secret-1';
const OTHER_SECRET = 'test-secret-2';
const POS = { shardId: 'shardId-000000000001', sequenceNumber: '4959' };
const KEY = { secret: SECRET, keyId: 'test' };

function change(
  table: string,
  op: ChangeEvent['op'],
  key: Row,
  before: Row | null,
  after: Row | null,
): ChangeEvent {
  return {
    source: {
      db: 'app',
      schema: 'public',
      table,
      lsn: '0/16C4460',
      commitTs: '2024-01-15T10:00:00Z',
      index: 0,
      txId: 9,
    },
    op,
    key,
    before,
    after,
  };
}

const userBefore = {
  id: 'u1',
  email: 'ann@example.com',
  phone: '+1-555-123-4567',
  full_name: 'Ann Lee',
  ssn: '123-45-6789',
  password_hash: '$2b$12$abcdefghijklmnopqrstuv',
  date_of_birth: '1990-04-01',
  updated_at: '2024-01-01T00:00:00Z',
};
const userAfter = {
  ...userBefore,
  email: 'ann.lee@example.com',
  phone: '+1-555-987-6543',
  ssn: '987-65-4321',
  password_hash: '$2b$12$zyxwvutsrqponmlkjihgfe',
  full_name: 'Ann Lee-Smith',
  updated_at: '2024-01-15T10:00:00Z',
};

describe('redactValue', () => {
  it('REMOVE removes the field (undefined), even a null one', () => {
    assert.equal(redactValue('REMOVE', 'secret', SECRET), undefined);
    assert.equal(redactValue('REMOVE', null, SECRET), undefined);
  });

  it('keeps null as null for every other kind', () => {
    for (const k of ['HASH', 'TOKENIZE', 'PARTIAL_MASK', 'FULL_MASK'] as const)
      assert.equal(redactValue(k, null, SECRET), null, k);
  });

  it('HASH is a keyed, deterministic hash', () => {
    const h = redactValue('HASH', 'ann@example.com', SECRET);
    assert.match(String(h), /^hash:[0-9a-f]{32}$/);
    assert.equal(redactValue('HASH', 'ann@example.com', SECRET), h);
    assert.notEqual(redactValue('HASH', 'ann@example.com', OTHER_SECRET), h);
    assert.notEqual(redactValue('HASH', 'bob@example.com', SECRET), h);
    // Not a plain (unkeyed) digest anyone could compute from a guessed value.
    const plain = createHash('sha256').update('ann@example.com').digest('hex');
    assert.ok(!plain.includes(String(h).slice(5)) && !String(h).includes(plain.slice(0, 32)));
    // Typed: the number 1 and the string "1" are different values.
    assert.notEqual(redactValue('HASH', 1, SECRET), redactValue('HASH', '1', SECRET));
  });

  it('TOKENIZE is a keyed, deterministic token distinct from HASH', () => {
    const t = redactValue('TOKENIZE', 'Ann Lee', SECRET);
    assert.match(String(t), /^tok_[0-9a-f]{24}$/);
    assert.equal(redactValue('TOKENIZE', 'Ann Lee', SECRET), t);
    assert.notEqual(redactValue('TOKENIZE', 'Ann Lee', OTHER_SECRET), t);
    assert.notEqual(redactValue('TOKENIZE', 'Ann Leo', SECRET), t);
    assert.notEqual(String(redactValue('HASH', 'Ann Lee', SECRET)).slice(5, 29), String(t).slice(4));
  });

  it('PARTIAL_MASK keeps the last four characters of a value that is not an e-mail address', () => {
    assert.equal(redactValue('PARTIAL_MASK', '+1-555-123-4567', SECRET), '***********4567');
    assert.equal(redactValue('PARTIAL_MASK', '4111111111111111', SECRET), '************1111');
    assert.equal(redactValue('PARTIAL_MASK', 5551234567, SECRET), '******4567');
  });

  it('PARTIAL_MASK of a short value: at most half visible, at least four mask characters', () => {
    assert.equal(redactValue('PARTIAL_MASK', 'abcdefgh', SECRET), '****efgh');
    assert.equal(redactValue('PARTIAL_MASK', 'abcdef', SECRET), '****def');
    assert.equal(redactValue('PARTIAL_MASK', 'abcde', SECRET), '****de');
    assert.equal(redactValue('PARTIAL_MASK', 'abcd', SECRET), '****cd');
    assert.equal(redactValue('PARTIAL_MASK', 'abc', SECRET), '****c');
    assert.equal(redactValue('PARTIAL_MASK', 'a', SECRET), '****');
    assert.equal(redactValue('PARTIAL_MASK', '', SECRET), '****');
  });

  it('PARTIAL_MASK of an e-mail address: first character of the local part, one mask per character, the domain (003)', () => {
    assert.equal(redactValue('PARTIAL_MASK', 'old@example.com', SECRET), 'o**@example.com');
    assert.equal(redactValue('PARTIAL_MASK', 'new@example.com', SECRET), 'n**@example.com');
    assert.equal(redactValue('PARTIAL_MASK', 'ann.lee@example.com', SECRET), 'a******@example.com');
    assert.equal(redactValue('PARTIAL_MASK', 'Ann@Example.com', SECRET), 'A**@Example.com', 'case kept');
    // A one-character local part is masked whole: never the entire local part visible.
    assert.equal(redactValue('PARTIAL_MASK', 'a@x.io', SECRET), '*@x.io');
    // Not an address (no local part, two @): masked as any other value.
    assert.equal(redactValue('PARTIAL_MASK', '@example.com', SECRET), '********.com');
    assert.equal(redactValue('PARTIAL_MASK', 'a@b@c', SECRET), '****@c');
  });

  it('PARTIAL_MASK options: maskChar', () => {
    const rule = { action: 'PARTIAL_MASK', maskChar: '#' } as const;
    assert.equal(redactValue(rule, 'old@example.com', SECRET), 'o##@example.com');
    assert.equal(redactValue(rule, '+1-555-123-4567', SECRET), '###########4567');
    assert.equal(redactValue(rule, 'ab', SECRET), '####b');
  });

  it('PARTIAL_MASK options: visibleChars (still never more than half, never a whole local part)', () => {
    const v = (n: number, value: JsonValue) =>
      redactValue({ action: 'PARTIAL_MASK', visibleChars: n }, value, SECRET);
    assert.equal(v(6, '4111111111111111'), '**********111111');
    assert.equal(v(4, '4111111111111111'), '************1111');
    assert.equal(v(0, '4111111111111111'), '****************');
    assert.equal(v(0, 'abc'), '****');
    assert.equal(v(12, '4111111111111111'), '********11111111', 'half of 16');
    assert.equal(v(2, 'ann.lee@example.com'), 'an*****@example.com');
    assert.equal(v(2, 'abc@x.io'), 'ab*@x.io');
    assert.equal(v(0, 'ann@example.com'), '***@example.com');
    assert.equal(v(5, 'ab@x'), 'a*@x');
  });

  it('PARTIAL_MASK options: visibleAt start (values that are not e-mail addresses)', () => {
    const start = (value: JsonValue, visibleChars?: number) =>
      redactValue({ action: 'PARTIAL_MASK', visibleAt: 'start', visibleChars }, value, SECRET);
    assert.equal(start('ABCDEFGHIJ'), 'ABCD******');
    assert.equal(start('ABCDEFGHIJ', 3), 'ABC*******');
    assert.equal(start('abc'), 'a****');
    assert.equal(start('4111111111111111', 6), '411111**********');
    // An e-mail address keeps its own form.
    assert.equal(start('old@example.com'), 'o**@example.com');
    assert.equal(
      redactValue({ action: 'PARTIAL_MASK', visibleAt: 'end', visibleChars: 3 }, 'ABCDEFGHIJ', SECRET),
      '*******HIJ',
    );
  });

  const EMAIL = /^[^@\s]+@[^@\s]+$/;

  it('PARTIAL_MASK never shows more than 4 characters, nor more than half of a value that is not an e-mail address', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 60 }).filter((s) => !EMAIL.test(s)),
        (s) => {
          const m = String(redactValue('PARTIAL_MASK', s, SECRET));
          const visible = m.replace(/^\*+/, '');
          assert.ok(visible.length <= 4);
          assert.ok(visible.length <= Math.floor(s.length / 2), `${JSON.stringify(s)} -> ${m}`);
          assert.ok(s.endsWith(visible));
          assert.ok(m.length >= 4);
        },
      ),
    );
  });

  it('PARTIAL_MASK of any e-mail address shows one character of the local part and the domain', () => {
    fc.assert(
      fc.property(fc.emailAddress(), (address) => {
        const at = address.lastIndexOf('@');
        const [local, domain] = [address.slice(0, at), address.slice(at + 1)];
        const m = String(redactValue('PARTIAL_MASK', address, SECRET));
        const shown = local.length > 1 ? local[0]! : '';
        assert.equal(m, `${shown}${'*'.repeat(local.length - shown.length)}@${domain}`);
        // Unchanged only when the local part was already all mask characters (`*@a.aa`: nothing to hide).
        if (!/^\*+$/.test(local)) assert.notEqual(m, address);
      }),
    );
  });

  it('FULL_MASK replaces any value by a constant mask (maskChar × 8 when given)', () => {
    assert.equal(redactValue('FULL_MASK', '1990-04-01', SECRET), '***REDACTED***');
    assert.equal(redactValue('FULL_MASK', 12345, SECRET), '***REDACTED***');
    assert.equal(redactValue('FULL_MASK', { street: 'Main St 1' }, SECRET), '***REDACTED***');
    assert.equal(redactValue({ action: 'FULL_MASK', maskChar: '#' }, 'x', SECRET), '########');
    assert.equal(
      redactValue({ action: 'FULL_MASK', maskChar: '#' }, 'a much longer value', SECRET),
      '########',
    );
  });

  it('a rule object and the bare action are the same rule', () => {
    for (const action of ['REMOVE', 'HASH', 'TOKENIZE', 'PARTIAL_MASK', 'FULL_MASK'] as const)
      assert.equal(
        redactValue({ action }, 'ann@example.com', SECRET),
        redactValue(action, 'ann@example.com', SECRET),
      );
  });
});

describe('redactEvent', () => {
  const updated = () => transformChange(change('users', 'u', { id: 'u1' }, userBefore, userAfter), POS);

  it('applies every rule of the table to before, after and changes, and stamps the policy version', () => {
    const e = updated();
    const r = redactEvent(e, KEY);
    const tok = (v: JsonValue) => redactValue('TOKENIZE', v, SECRET);
    assert.equal(r.redactionPolicy, 'pii-policy-v2@test');
    assert.deepEqual(r.before, {
      id: 'u1',
      email: 'a**@example.com',
      phone: '***********4567',
      full_name: tok('Ann Lee'),
      date_of_birth: '***REDACTED***',
      updated_at: '2024-01-01T00:00:00.000Z',
    });
    assert.deepEqual(r.after, {
      id: 'u1',
      email: 'a******@example.com',
      phone: '***********6543',
      full_name: tok('Ann Lee-Smith'),
      date_of_birth: '***REDACTED***',
      updated_at: '2024-01-15T10:00:00.000Z',
    });
    assert.deepEqual(r.changes, {
      email: { old: 'a**@example.com', new: 'a******@example.com' },
      phone: { old: '***********4567', new: '***********6543' },
      full_name: { old: tok('Ann Lee'), new: tok('Ann Lee-Smith') },
      updated_at: { old: '2024-01-01T00:00:00.000Z', new: '2024-01-15T10:00:00.000Z' },
    });
    for (const removed of ['ssn', 'password_hash']) {
      assert.equal(removed in r.changes, false, `REMOVE removes ${removed} from changes`);
      assert.equal(removed in r.before!, false, `REMOVE removes ${removed} from before`);
      assert.equal(removed in r.after!, false, `REMOVE removes ${removed} from after`);
    }
    // Everything else is carried over.
    assert.deepEqual(
      { ...r, before: null, after: null, changes: {}, redactionPolicy: undefined, entityRef: undefined },
      {
        ...e,
        before: null,
        after: null,
        changes: {},
        redactionPolicy: undefined,
        entityRef: undefined,
      },
    );
    // users has redaction rules: logs and status name the row by a keyed hash, not by its key.
    assert.match(String(r.entityRef), /^hash:[0-9a-f]{16}$/);
    assert.equal(r.entityId, 'u1');
    assert.deepEqual(r.key, { id: 'u1' });
  });

  it("003's event lifecycle example: users UPDATE of an e-mail address, SSN unchanged", () => {
    // 003 "Event Lifecycle": captured → processed → "Redacted for Distribution".
    const e = transformChange(
      {
        source: {
          db: 'app',
          schema: 'public',
          table: 'users',
          lsn: '0/16C4460',
          commitTs: '2024-01-15T10:30:00.000Z',
          index: 0,
        },
        op: 'u',
        key: { id: 123 },
        before: { id: 123, email: 'old@example.com', ssn: '123-45-6789' },
        after: { id: 123, email: 'new@example.com', ssn: '123-45-6789' },
      },
      POS,
    );
    // Stage 3, processed & transformed.
    assert.equal(e.eventType, 'user.updated');
    assert.equal(e.entityId, '123');
    assert.deepEqual(e.changes, { email: { old: 'old@example.com', new: 'new@example.com' } });
    // Stage 4, redacted for distribution: "SSN completely removed - not included in output".
    const r = redactEvent(e, KEY);
    assert.equal(r.eventType, 'user.updated');
    assert.equal(r.entityId, '123');
    assert.deepEqual(r.changes, { email: { old: 'o**@example.com', new: 'n**@example.com' } });
    assert.deepEqual(r.before, { id: 123, email: 'o**@example.com' });
    assert.deepEqual(r.after, { id: 123, email: 'n**@example.com' });
    // And so the published Detail.
    const entry = toEventEntry(r, 'cdc-bus', '2024-01-15T10:30:01.234Z');
    const detail = JSON.parse(entry.Detail) as Record<string, unknown>;
    assert.equal(entry.DetailType, 'user.updated');
    assert.equal(detail.eventType, 'user.updated');
    assert.equal(detail.entityId, '123');
    assert.equal(detail.operation, 'UPDATE');
    assert.deepEqual(detail.changes, { email: { old: 'o**@example.com', new: 'n**@example.com' } });
    assert.ok(!entry.Detail.includes('123-45-6789') && !entry.Detail.includes('ssn'));
    assert.ok(!entry.Detail.includes('old@example.com') && !entry.Detail.includes('new@example.com'));
  });

  it('does not mutate the event it redacts', () => {
    const e = updated();
    const copy = structuredClone(e);
    redactEvent(e, KEY);
    assert.deepEqual(e, copy);
  });

  it('keeps nulls as nulls in images and changes', () => {
    const r = redactEvent(
      transformChange(
        change('customers', 'c', { customer_id: 'c1' }, null, {
          customer_id: 'c1',
          email: null,
          phone: null,
          name: null,
          address: null,
          tax_id: null,
          date_of_birth: null,
        }),
        POS,
      ),
      KEY,
    );
    assert.deepEqual(r.after, {
      customer_id: 'c1',
      email: null,
      phone: null,
      name: null,
      address: null,
      date_of_birth: null,
    });
    assert.deepEqual(r.changes, {
      customer_id: { old: null, new: 'c1' },
      email: { old: null, new: null },
      phone: { old: null, new: null },
      name: { old: null, new: null },
      address: { old: null, new: null },
      date_of_birth: { old: null, new: null },
    });
  });

  it('customers: e-mail and phone partly masked, name tokenized, address hashed, tax id removed, birth date masked', () => {
    const r = redactEvent(
      transformChange(
        change('customers', 'c', { customer_id: 'c1' }, null, {
          customer_id: 'c1',
          email: 'bob@shop.example',
          phone: '+44 20 7946 0958',
          name: 'Bob Stone',
          address: '1 Main St',
          tax_id: 'DE123456789',
          date_of_birth: '1980-02-03',
        }),
        POS,
      ),
      KEY,
    );
    assert.deepEqual(r.after, {
      customer_id: 'c1',
      email: 'b**@shop.example',
      phone: '************0958',
      name: redactValue('TOKENIZE', 'Bob Stone', SECRET),
      address: redactValue('HASH', '1 Main St', SECRET),
      date_of_birth: '***REDACTED***',
    });
    assert.match(String(r.after!.name), /^tok_[0-9a-f]{24}$/);
    assert.match(String(r.after!.address), /^hash:[0-9a-f]{32}$/);
  });

  it('orders: payment details removed, shipping address hashed (003)', () => {
    const r = redactEvent(
      transformChange(
        change('orders', 'c', { order_id: 'o1' }, null, {
          order_id: 'o1',
          total_amount: '12.5',
          payment_details: { card: '4111111111111111' },
          shipping_address: '2 Side St',
        }),
        POS,
      ),
      KEY,
    );
    assert.deepEqual(r.after, {
      order_id: 'o1',
      total_amount: '12.50',
      shipping_address: redactValue('HASH', '2 Side St', SECRET),
    });
    assert.equal('payment_details' in r.changes, false);
  });

  it('masks an e-mail address as written: no lower-casing before the mask (LOWERCASE is gone from users)', () => {
    const masked = (email: string) =>
      redactEvent(transformChange(change('users', 'c', { id: 'u' }, null, { id: 'u', email }), POS), KEY)
        .after!.email;
    assert.equal(masked('Ann@Example.com'), 'A**@Example.com');
    assert.equal(masked('ann@example.com'), 'a**@example.com');
  });

  it('redacts deletes (before image and changes)', () => {
    const r = redactEvent(transformChange(change('users', 'd', { id: 'u1' }, userBefore, null), POS), KEY);
    assert.equal(r.after, null);
    assert.equal(r.before!.date_of_birth, '***REDACTED***');
    assert.equal('ssn' in r.before!, false);
    assert.equal('password_hash' in r.before!, false);
    assert.deepEqual(r.changes.phone, { old: '***********4567', new: null });
    assert.deepEqual(r.changes.email, { old: 'a**@example.com', new: null });
    assert.equal('ssn' in r.changes, false);
  });

  it('leaves tables without rules unchanged except for the policy stamp', () => {
    const e = transformChange(
      change('inventory', 'c', { sku: 'A', warehouse_id: 1 }, null, {
        sku: 'A',
        warehouse_id: 1,
        on_hand: 3,
      }),
      POS,
    );
    assert.deepEqual(redactEvent(e, KEY), {
      ...e,
      entityRef: 'A#1',
      redactionPolicy: 'pii-policy-v2@test',
    });
  });

  it('the policy is `<policyVersion>@<keyId>`: a new key id shows in every event, the values only with a new secret', () => {
    const e = updated();
    assert.equal(
      redactionPolicy(tableConfig('users'), { secret: SECRET, keyId: 'k2026-01' }),
      'pii-policy-v2@k2026-01',
    );
    const renamed = redactEvent(e, { secret: SECRET, keyId: 'k2026-01' });
    assert.equal(renamed.redactionPolicy, 'pii-policy-v2@k2026-01');
    assert.deepEqual(
      { ...renamed, redactionPolicy: undefined },
      { ...redactEvent(e, KEY), redactionPolicy: undefined },
    );
    const rotated = redactEvent(e, { secret: OTHER_SECRET, keyId: 'k2026-02' });
    assert.equal(rotated.redactionPolicy, 'pii-policy-v2@k2026-02');
    assert.notEqual(rotated.after!.full_name, renamed.after!.full_name);
  });

  it('different secrets give different HASH and TOKENIZE outputs in the event, masks stay the same', () => {
    const e = updated();
    const a = redactEvent(e, KEY);
    const b = redactEvent(e, { secret: OTHER_SECRET, keyId: 'test' });
    assert.notEqual(a.after!.full_name, b.after!.full_name);
    assert.equal(a.after!.email, b.after!.email);
    assert.equal(a.after!.phone, b.after!.phone);
    const order = (secret: string) =>
      redactEvent(
        transformChange(
          change('orders', 'c', { order_id: 'o1' }, null, { order_id: 'o1', shipping_address: '2 Side St' }),
          POS,
        ),
        { secret, keyId: 'test' },
      ).after!.shipping_address;
    assert.notEqual(order(SECRET), order(OTHER_SECRET));
  });

  it('throws ConfigurationError for an unknown table', () => {
    assert.throws(() => redactEvent({ ...updated(), table: 'nope' }, KEY), ConfigurationError);
  });
});

describe('redactEvent with a table file of its own', () => {
  let shipped: TableRegistry;
  const file = (unruledPii: 'warn' | 'drop') =>
    parseTableFile(
      {
        version: 1,
        unruledPii,
        tables: {
          accounts: {
            entity: 'account',
            key: ['account_id'],
            operations: ['INSERT', 'UPDATE', 'DELETE'],
            redactions: {
              email: { action: 'PARTIAL_MASK', maskChar: '#' },
              card_number: { action: 'PARTIAL_MASK', visibleChars: 6, visibleAt: 'start' },
              date_of_birth: { action: 'FULL_MASK', maskChar: 'x' },
            },
            policyVersion: 'pii-policy-v3',
          },
          blocked_ips: { entity: 'blocked_ip', key: ['ip_address'], operations: ['INSERT', 'DELETE'] },
        },
      },
      `test/accounts-${unruledPii}.yaml`,
    );
  const accountBefore = {
    account_id: 'a1',
    email: 'old@example.com',
    backup_email: 'old.backup@example.com',
    home_address: '1 Main St',
    phone_number: '+1-555-123-4567',
    card_number: '4111111111111111',
    date_of_birth: '1990-04-01',
    nickname: 'annie',
  };
  const accountAfter = {
    ...accountBefore,
    email: 'new@example.com',
    backup_email: 'new.backup@example.com',
    nickname: 'ann',
  };
  const accountUpdate = () =>
    transformChange(change('accounts', 'u', { account_id: 'a1' }, accountBefore, accountAfter), POS);

  before(() => {
    shipped = tableRegistry();
  });
  afterEach(() => useTables(shipped));

  it('applies the rule options of the file and its policy version', () => {
    useTables(file('warn'));
    const r = redactEvent(accountUpdate(), { secret: SECRET, keyId: 'k7' });
    assert.equal(r.redactionPolicy, 'pii-policy-v3@k7');
    assert.equal(r.after!.email, 'n##@example.com');
    assert.equal(r.after!.card_number, '411111**********');
    assert.equal(r.after!.date_of_birth, 'xxxxxxxx');
  });

  it('unruledPii: warn keeps unruled PII-named columns (they are reported at start-up)', () => {
    useTables(file('warn'));
    const r = redactEvent(accountUpdate(), KEY);
    assert.equal(r.after!.backup_email, 'new.backup@example.com');
    assert.equal(r.after!.home_address, '1 Main St');
    assert.deepEqual(r.changes.backup_email, {
      old: 'old.backup@example.com',
      new: 'new.backup@example.com',
    });
  });

  it('unruledPii: drop removes unruled PII-named columns from images and changes; ruled, key and other columns stay', () => {
    useTables(file('drop'));
    const r = redactEvent(accountUpdate(), KEY);
    for (const dropped of ['backup_email', 'home_address', 'phone_number']) {
      assert.equal(dropped in r.before!, false, dropped);
      assert.equal(dropped in r.after!, false, dropped);
      assert.equal(dropped in r.changes, false, dropped);
    }
    assert.deepEqual(r.after, {
      account_id: 'a1',
      email: 'n##@example.com',
      card_number: '411111**********',
      date_of_birth: 'xxxxxxxx',
      nickname: 'ann',
    });
    assert.deepEqual(r.changes, {
      email: { old: 'o##@example.com', new: 'n##@example.com' },
      nickname: { old: 'annie', new: 'ann' },
    });
    // A key column is never dropped, whatever its name: it identifies the row.
    const ip = redactEvent(
      transformChange(
        change('blocked_ips', 'c', { ip_address: '10.0.0.1' }, null, {
          ip_address: '10.0.0.1',
          reason: 'abuse',
          reporter_email: 'sec@example.com',
        }),
        POS,
      ),
      KEY,
    );
    assert.deepEqual(ip.after, { ip_address: '10.0.0.1', reason: 'abuse' });
    assert.equal(ip.entityId, '10.0.0.1');
  });

  it('unruledPii: drop also holds for the shipped tables: an unruled column of users is dropped', () => {
    const doc = { version: 1, unruledPii: 'drop', tables: {} as Record<string, unknown> };
    // The shipped users entry, as the file writes it.
    doc.tables.users = {
      entity: 'user',
      key: ['id'],
      operations: ['INSERT', 'UPDATE', 'DELETE'],
      redactions: { ssn: 'REMOVE', email: 'PARTIAL_MASK' },
    };
    useTables(parseTableFile(doc, 'test/users-drop.yaml'));
    const r = redactEvent(
      transformChange(
        change('users', 'c', { id: 'u1' }, null, {
          id: 'u1',
          email: 'ann@example.com',
          recovery_email: 'ann@backup.example',
          ssn: '123-45-6789',
          status: 'active',
        }),
        POS,
      ),
      KEY,
    );
    assert.deepEqual(r.after, { id: 'u1', email: 'a**@example.com', status: 'active' });
  });
});

describe('redaction property: no sensitive value reaches EventBridge', () => {
  const SENSITIVE: Record<'users' | 'customers', string[]> = {
    users: Object.keys(tableConfig('users').redactions),
    customers: Object.keys(tableConfig('customers').redactions),
  };

  it('the property covers every redacted column of users and customers', () => {
    assert.deepEqual(SENSITIVE.users.sort(), [
      'date_of_birth',
      'email',
      'full_name',
      'password_hash',
      'phone',
      'ssn',
    ]);
    assert.deepEqual(SENSITIVE.customers.sort(), [
      'address',
      'date_of_birth',
      'email',
      'name',
      'phone',
      'tax_id',
    ]);
  });

  // Arbitrary strings (ASCII, full Unicode, e-mail-like). '*' is replaced: a value made of mask
  // characters "appears" in any mask without anything being leaked.
  const value = fc
    .oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc.emailAddress(),
      fc.string({ unit: 'grapheme', maxLength: 20 }),
    )
    .map((s) => s.replace(/\*/g, '#'));
  const rowOf = (table: 'users' | 'customers') =>
    fc.record(
      Object.fromEntries(
        SENSITIVE[table].map((c) => [c, fc.option(value, { nil: null, freq: 8 })]),
      ) as Record<string, fc.Arbitrary<string | null>>,
    );

  function entryJson(e: PipelineEvent): { whole: string; detail: string } {
    const entry = toEventEntry(redactEvent(e, KEY), 'cdc-bus', '2024-01-15T10:00:01.000Z');
    return { whole: JSON.stringify(entry), detail: entry.Detail };
  }

  for (const table of ['users', 'customers'] as const) {
    it(`${table}: no configured sensitive value (length >= 6) appears in the published entry`, () => {
      const pk = tableConfig(table).primaryKey[0]!;
      fc.assert(
        fc.property(
          fc.constantFrom('c', 'u', 'd', 'r'),
          fc.integer({ min: 1, max: 1_000_000 }),
          rowOf(table),
          rowOf(table),
          (op, id, b, a) => {
            const key = { [pk]: `id-${id}` };
            const before = op === 'u' || op === 'd' ? { ...key, ...b } : null;
            const after = op === 'd' ? null : { ...key, ...a };
            const ev = transformChange(change(table, op, key, before, after), POS);
            const { whole, detail } = entryJson(ev);

            // The same event with every sensitive value null: a value found there is a coincidence
            // with the event's own structure (field names, IDs, ...), not a leak.
            const nulls = Object.fromEntries(SENSITIVE[table].map((c) => [c, null]));
            const skeleton = entryJson(
              transformChange(
                change(table, op, key, before && { ...before, ...nulls }, after && { ...after, ...nulls }),
                POS,
              ),
            );

            const values = [...Object.values(b), ...Object.values(a)].filter(
              (v): v is string => typeof v === 'string',
            );
            for (const v of values) {
              if (v.length < 6) continue;
              const escaped = JSON.stringify(v).slice(1, -1);
              const doubleEscaped = JSON.stringify(escaped).slice(1, -1);
              if (
                [v, escaped, doubleEscaped].some(
                  (s) => skeleton.whole.includes(s) || skeleton.detail.includes(s),
                )
              )
                continue;
              for (const hay of [whole, detail]) {
                for (const needle of [v, escaped, doubleEscaped]) {
                  assert.ok(!hay.includes(needle), `sensitive value ${JSON.stringify(v)} leaked into ${hay}`);
                }
              }
            }
          },
        ),
        { numRuns: 300 },
      );
    });
  }
});
