import assert from 'node:assert/strict';
import { temporal } from '@temporalio/proto';
import {
  assertSearchAttributes,
  REQUIRED_SEARCH_ATTRIBUTES,
  searchAttributeMessage,
  searchAttributeProblems,
} from '../../../infra/searchAttributes';
import { SA } from '../../../workflows/names';

const T = temporal.api.enums.v1.IndexedValueType;

/** Every attribute the workflows write, as the operator service lists them (name → enum), but `except`. */
function listed(except: string[] = []): Record<string, number> {
  const byType = {
    KEYWORD: T.INDEXED_VALUE_TYPE_KEYWORD,
    INT: T.INDEXED_VALUE_TYPE_INT,
    DATETIME: T.INDEXED_VALUE_TYPE_DATETIME,
  } as Record<string, number>;
  return Object.fromEntries(
    Object.values(SA)
      .filter((k) => !except.includes(k.name))
      .map((k) => [k.name, byType[k.type]!]),
  );
}

describe('search attributes the worker writes (start-up check)', () => {
  it('requires every attribute of workflows/names.ts', () => {
    assert.deepEqual(
      REQUIRED_SEARCH_ATTRIBUTES.map((k) => k.name),
      Object.values(SA).map((k) => k.name),
    );
    for (const name of ['CdcState', 'CdcStream', 'CdcSku', 'CdcExpiresAt'])
      assert.ok(
        REQUIRED_SEARCH_ATTRIBUTES.some((k) => k.name === name),
        name,
      );
  });

  it('nothing to say when all are there (system attributes and others besides)', () => {
    const problems = searchAttributeProblems({ ...listed(), WorkflowType: T.INDEXED_VALUE_TYPE_KEYWORD });
    assert.deepEqual(problems, { missing: [], wrongType: [] });
    assert.equal(searchAttributeMessage(problems, 'default'), undefined);
  });

  it('names the missing ones in one line, with the commands that create them (one per type)', () => {
    const problems = searchAttributeProblems(listed(['CdcSku', 'CdcExpiresAt', 'CdcTable']));
    assert.deepEqual(
      problems.missing.map((m) => m.name),
      ['CdcTable', 'CdcExpiresAt', 'CdcSku'],
    );
    const message = searchAttributeMessage(problems, 'prod')!;
    assert.ok(!message.includes('\n'), message);
    assert.match(
      message,
      /namespace prod lacks the search attributes CdcTable \(Keyword\), CdcExpiresAt \(Datetime\), CdcSku \(Keyword\)/,
    );
    assert.ok(
      message.endsWith(
        'create them with: temporal operator search-attribute create --namespace prod --name CdcTable --name CdcSku --type Keyword' +
          ' && temporal operator search-attribute create --namespace prod --name CdcExpiresAt --type Datetime',
      ),
      message,
    );
  });

  it('says when one exists with another type (names as strings too)', () => {
    const problems = searchAttributeProblems({ ...listed(), CdcLagMs: 'INDEXED_VALUE_TYPE_KEYWORD' });
    assert.deepEqual(problems.wrongType, [{ name: 'CdcLagMs', type: 'INT', actual: 'KEYWORD' }]);
    assert.match(searchAttributeMessage(problems, 'default')!, /CdcLagMs as KEYWORD, not Int/);
  });

  it('a listing this identity may not read is a warning, not a refusal', async () => {
    const warnings: string[] = [];
    await assertSearchAttributes(
      {
        operatorService: {
          listSearchAttributes: () =>
            Promise.reject(Object.assign(new Error('7 PERMISSION_DENIED: no'), { code: 7 })),
        },
      },
      'default',
      (l) => warnings.push(l),
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /not checked/);
  });
});
