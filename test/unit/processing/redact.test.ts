import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import { toEventEntry } from '../../../domain/publishing/eventEntry';
import type { JsonValue, Row } from '../../../domain/core/json';
import type { PipelineEvent } from '../../../domain/core/pipelineEvent';
import { redactEvent, redactValue } from '../../../domain/processing/redact';
import { REDACTION_POLICY_VERSION, tableConfig } from '../../../domain/core/tables';
import { transformChange } from '../../../domain/processing/transform';
import { ConfigurationError } from '../../../domain/core/errors';

const SECRET = 'test-secret-1';
const OTHER_SECRET = 'test-secret-2';
const POS = { shardId: 'shardId-000000000001', sequenceNumber: '4959' };

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
  user_id: 'u1',
  email: 'ann@example.com',
  phone: '+1-555-123-4567',
  full_name: 'Ann Lee',
  ssn: '123-45-6789',
  date_of_birth: '1990-04-01',
  updated_at: '2024-01-01T00:00:00Z',
};
const userAfter = {
  ...userBefore,
  email: 'ann.lee@example.com',
  phone: '+1-555-987-6543',
  ssn: '987-65-4321',
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

  it('PARTIAL_MASK keeps only a short suffix', () => {
    assert.equal(redactValue('PARTIAL_MASK', '+1-555-123-4567', SECRET), '***********4567');
    assert.equal(redactValue('PARTIAL_MASK', '4111111111111111', SECRET), '************1111');
    assert.equal(redactValue('PARTIAL_MASK', 'abcdef', SECRET), '****ef');
    assert.equal(redactValue('PARTIAL_MASK', 'abcde', SECRET), '****de');
    assert.equal(redactValue('PARTIAL_MASK', 'abcd', SECRET), '****');
    assert.equal(redactValue('PARTIAL_MASK', 'a', SECRET), '****');
    assert.equal(redactValue('PARTIAL_MASK', '', SECRET), '****');
    assert.equal(redactValue('PARTIAL_MASK', 5551234567, SECRET), '******4567');
  });

  it('PARTIAL_MASK never shows more than 4 characters, nor more than half of the value', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        const m = String(redactValue('PARTIAL_MASK', s, SECRET));
        const visible = m.replace(/^\*+/, '');
        assert.ok(visible.length <= 4);
        assert.ok(visible.length <= Math.floor(s.length / 2), `${JSON.stringify(s)} -> ${m}`);
        assert.ok(s.endsWith(visible));
        assert.ok(m.length >= 4);
      }),
    );
  });

  it('FULL_MASK replaces any value by a constant mask', () => {
    assert.equal(redactValue('FULL_MASK', '1990-04-01', SECRET), '****');
    assert.equal(redactValue('FULL_MASK', 12345, SECRET), '****');
    assert.equal(redactValue('FULL_MASK', { street: 'Main St 1' }, SECRET), '****');
  });
});

describe('redactEvent', () => {
  const updated = () => transformChange(change('users', 'u', { user_id: 'u1' }, userBefore, userAfter), POS);

  it('applies every rule of the table to before, after and changes, and stamps the policy version', () => {
    const e = updated();
    const r = redactEvent(e, SECRET);
    const h = (v: JsonValue) => redactValue('HASH', v, SECRET);
    const tok = (v: JsonValue) => redactValue('TOKENIZE', v, SECRET);
    assert.equal(r.redactionPolicy, REDACTION_POLICY_VERSION);
    assert.equal(r.redactionPolicy, 'pii-policy-v1');
    assert.deepEqual(r.before, {
      user_id: 'u1',
      email: h('ann@example.com'),
      phone: '***********4567',
      full_name: tok('Ann Lee'),
      date_of_birth: '****',
      updated_at: '2024-01-01T00:00:00.000Z',
    });
    assert.deepEqual(r.after, {
      user_id: 'u1',
      email: h('ann.lee@example.com'),
      phone: '***********6543',
      full_name: tok('Ann Lee-Smith'),
      date_of_birth: '****',
      updated_at: '2024-01-15T10:00:00.000Z',
    });
    assert.deepEqual(r.changes, {
      email: { old: h('ann@example.com'), new: h('ann.lee@example.com') },
      phone: { old: '***********4567', new: '***********6543' },
      full_name: { old: tok('Ann Lee'), new: tok('Ann Lee-Smith') },
      updated_at: { old: '2024-01-01T00:00:00.000Z', new: '2024-01-15T10:00:00.000Z' },
    });
    assert.equal('ssn' in r.changes, false, 'REMOVE removes from changes');
    assert.equal('ssn' in r.before!, false, 'REMOVE removes from before');
    assert.equal('ssn' in r.after!, false, 'REMOVE removes from after');
    // Everything else is carried over.
    assert.deepEqual(
      { ...r, before: null, after: null, changes: {}, redactionPolicy: undefined },
      {
        ...e,
        before: null,
        after: null,
        changes: {},
        redactionPolicy: undefined,
      },
    );
    assert.equal(r.entityId, 'u1');
    assert.deepEqual(r.key, { user_id: 'u1' });
  });

  it('does not mutate the event it redacts', () => {
    const e = updated();
    const copy = structuredClone(e);
    redactEvent(e, SECRET);
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
        }),
        POS,
      ),
      SECRET,
    );
    assert.deepEqual(r.after, { customer_id: 'c1', email: null, phone: null, name: null, address: null });
    assert.deepEqual(r.changes, {
      customer_id: { old: null, new: 'c1' },
      email: { old: null, new: null },
      phone: { old: null, new: null },
      name: { old: null, new: null },
      address: { old: null, new: null },
    });
  });

  it('hashes the transformed value (email lower-cased first), so case variants hash alike', () => {
    const a = redactEvent(
      transformChange(
        change('users', 'c', { user_id: 'u' }, null, { user_id: 'u', email: 'Ann@Example.com' }),
        POS,
      ),
      SECRET,
    );
    const b = redactEvent(
      transformChange(
        change('users', 'c', { user_id: 'u' }, null, { user_id: 'u', email: 'ann@example.com' }),
        POS,
      ),
      SECRET,
    );
    assert.equal(a.after!.email, b.after!.email);
  });

  it('redacts deletes (before image and changes)', () => {
    const r = redactEvent(
      transformChange(change('users', 'd', { user_id: 'u1' }, userBefore, null), POS),
      SECRET,
    );
    assert.equal(r.after, null);
    assert.equal(r.before!.date_of_birth, '****');
    assert.equal('ssn' in r.before!, false);
    assert.deepEqual(r.changes.phone, { old: '***********4567', new: null });
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
    assert.deepEqual(redactEvent(e, SECRET), { ...e, redactionPolicy: REDACTION_POLICY_VERSION });
  });

  it('different secrets give different HASH and TOKENIZE outputs in the event', () => {
    const e = updated();
    const a = redactEvent(e, SECRET);
    const b = redactEvent(e, OTHER_SECRET);
    assert.notEqual(a.after!.email, b.after!.email);
    assert.notEqual(a.after!.full_name, b.after!.full_name);
    assert.equal(a.after!.phone, b.after!.phone);
  });

  it('throws ConfigurationError for an unknown table', () => {
    assert.throws(() => redactEvent({ ...updated(), table: 'nope' }, SECRET), ConfigurationError);
  });
});

describe('redaction property: no sensitive value reaches EventBridge', () => {
  const SENSITIVE: Record<'users' | 'customers', string[]> = {
    users: Object.keys(tableConfig('users').redactions),
    customers: Object.keys(tableConfig('customers').redactions),
  };

  it('the property covers every redacted column of users and customers', () => {
    assert.deepEqual(SENSITIVE.users.sort(), ['date_of_birth', 'email', 'full_name', 'phone', 'ssn']);
    assert.deepEqual(SENSITIVE.customers.sort(), ['address', 'email', 'name', 'phone', 'tax_id']);
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
    const entry = toEventEntry(redactEvent(e, SECRET), 'cdc-bus', '2024-01-15T10:00:01.000Z');
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
            // The LOWERCASE-transformed email is as sensitive as the original.
            const emails = [b.email, a.email]
              .filter((v): v is string => typeof v === 'string')
              .map((v) => v.toLowerCase());
            for (const v of [...values, ...emails]) {
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
