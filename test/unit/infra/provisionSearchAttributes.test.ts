import assert from 'node:assert/strict';
import { temporal } from '@temporalio/proto';
import {
  provisionSearchAttributes,
  REQUIRED_SEARCH_ATTRIBUTES,
  type SearchAttributeAdmin,
} from '../../../infra/searchAttributes';

const T = temporal.api.enums.v1.IndexedValueType;

/** `cdc provision temporal`: creates what the namespace lacks; Temporal Cloud gets the tcld command. */
describe('search attributes provisioning (cdc provision temporal)', () => {
  const [first, ...rest] = REQUIRED_SEARCH_ATTRIBUTES;
  const listedAllBut = (missing: string) =>
    Object.fromEntries(
      REQUIRED_SEARCH_ATTRIBUTES.filter((k) => k.name !== missing).map((k) => [
        k.name,
        k.type === 'INT'
          ? T.INDEXED_VALUE_TYPE_INT
          : k.type === 'DATETIME'
            ? T.INDEXED_VALUE_TYPE_DATETIME
            : T.INDEXED_VALUE_TYPE_KEYWORD,
      ]),
    );
  const admin = (
    add: (req: { searchAttributes: Record<string, number> }) => Promise<unknown>,
  ): SearchAttributeAdmin => ({
    operatorService: {
      listSearchAttributes: async () => ({ customAttributes: listedAllBut(first!.name) }),
      addSearchAttributes: add,
    },
  });

  it('creates only the missing one, with its type', async () => {
    const added: Record<string, number>[] = [];
    const r = await provisionSearchAttributes(
      admin(async (req) => added.push(req.searchAttributes)),
      'ns',
    );
    assert.deepEqual(r.created, [first!.name]);
    assert.equal(r.present.length, rest.length);
    assert.equal(added.length, 1);
    assert.deepEqual(Object.keys(added[0]!), [first!.name]);
  });

  it('dry run: creates nothing, names the command', async () => {
    let called = false;
    const r = await provisionSearchAttributes(
      admin(async () => (called = true)),
      'ns',
      { dryRun: true },
    );
    assert.equal(called, false);
    assert.deepEqual(r.created, []);
    assert.match(
      r.refused!.command,
      new RegExp(`temporal operator search-attribute create --namespace ns --name ${first!.name}`),
    );
  });

  it('refused by the server (Temporal Cloud): the tcld command for an account admin', async () => {
    const r = await provisionSearchAttributes(
      admin(async () => {
        throw Object.assign(new Error('7 PERMISSION_DENIED: Request unauthorized.'), { code: 7 });
      }),
      'shop.a1b2c',
    );
    assert.deepEqual(r.created, []);
    assert.equal(
      r.refused!.command,
      `tcld namespace search-attributes add --namespace shop.a1b2c --search-attribute "${first!.name}=${first!.type === 'INT' ? 'Int' : first!.type === 'DATETIME' ? 'Datetime' : 'Keyword'}"`,
    );
  });
});
