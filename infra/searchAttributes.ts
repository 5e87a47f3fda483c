/**
 * The worker's start-up check that the custom search attributes its workflows write (`SA` in
 * workflows/names.ts: CdcState, CdcStream, CdcSku, CdcExpiresAt, …) exist in its namespace with
 * their types. Without one, every upsert of it fails the workflow task (e.g. `signalHoldChanges`
 * starting reservation-expiry workflows with CdcSku/CdcExpiresAt), over and over: refusing to start
 * says so once, with the command that creates the missing ones.
 */
import type { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { ConfigurationError } from '../domain/core/errors';
import { SA } from '../workflows/names';

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;

/** What a search attribute's type is called by `temporal operator search-attribute create --type`. */
const CLI_TYPE: Record<SearchAttributeType, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

const FROM_INDEXED: Record<number, SearchAttributeType> = {
  [IndexedValueType.INDEXED_VALUE_TYPE_TEXT]: 'TEXT',
  [IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]: 'KEYWORD',
  [IndexedValueType.INDEXED_VALUE_TYPE_INT]: 'INT',
  [IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE]: 'DOUBLE',
  [IndexedValueType.INDEXED_VALUE_TYPE_BOOL]: 'BOOL',
  [IndexedValueType.INDEXED_VALUE_TYPE_DATETIME]: 'DATETIME',
  [IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST]: 'KEYWORD_LIST',
};

/** A search attribute's name and type (a `defineSearchAttributeKey` key). */
export interface AttributeKey {
  name: string;
  type: SearchAttributeType;
}

/** The search attributes the pipeline's workflows write. */
export const REQUIRED_SEARCH_ATTRIBUTES: readonly AttributeKey[] = Object.values(SA);

/** A listed attribute's type: the enum number the operator service answers, or its name. */
export type ListedType = number | string | null | undefined;

export interface SearchAttributeProblems {
  /** Not in the namespace at all. */
  missing: { name: string; type: SearchAttributeType }[];
  /** In the namespace with another type (create cannot fix it). */
  wrongType: { name: string; type: SearchAttributeType; actual: string }[];
}

function typeName(t: ListedType): string {
  if (typeof t === 'number') return FROM_INDEXED[t] ?? `type ${t}`;
  return String(t ?? 'unspecified').replace(/^INDEXED_VALUE_TYPE_/, '');
}

/** Which of `required` the namespace's `listed` attributes (name → type) lack or type otherwise. */
export function searchAttributeProblems(
  listed: Record<string, ListedType>,
  required: readonly AttributeKey[] = REQUIRED_SEARCH_ATTRIBUTES,
): SearchAttributeProblems {
  const problems: SearchAttributeProblems = { missing: [], wrongType: [] };
  for (const { name, type } of required) {
    if (!(name in listed)) problems.missing.push({ name, type });
    else if (typeName(listed[name]) !== type)
      problems.wrongType.push({ name, type, actual: typeName(listed[name]) });
  }
  return problems;
}

/** The commands that create `missing` (the CLI takes one --type per command: one command per type). */
export function createCommand(missing: SearchAttributeProblems['missing'], namespace: string): string {
  const byType = new Map<SearchAttributeType, string[]>();
  for (const { name, type } of missing) byType.set(type, [...(byType.get(type) ?? []), name]);
  return [...byType]
    .map(
      ([type, names]) =>
        `temporal operator search-attribute create --namespace ${namespace} ${names.map((n) => `--name ${n}`).join(' ')} --type ${CLI_TYPE[type]}`,
    )
    .join(' && ');
}

/** One line saying what is wrong and what to run; undefined when nothing is. */
export function searchAttributeMessage(
  problems: SearchAttributeProblems,
  namespace: string,
): string | undefined {
  const parts: string[] = [];
  if (problems.missing.length)
    parts.push(
      `namespace ${namespace} lacks the search attribute${problems.missing.length > 1 ? 's' : ''} ` +
        `${problems.missing.map((m) => `${m.name} (${CLI_TYPE[m.type]})`).join(', ')} the workflows write; ` +
        `create ${problems.missing.length > 1 ? 'them' : 'it'} with: ${createCommand(problems.missing, namespace)}`,
    );
  if (problems.wrongType.length)
    parts.push(
      `namespace ${namespace} has ${problems.wrongType
        .map((w) => `${w.name} as ${w.actual}, not ${CLI_TYPE[w.type]}`)
        .join(
          ', ',
        )} (remove and create it with the right type: temporal operator search-attribute delete/create)`,
    );
  return parts.length ? parts.join('; ') : undefined;
}

/** The part of a connection (client `Connection` or worker `NativeConnection`) the check needs. */
export interface OperatorConnection {
  operatorService: {
    listSearchAttributes(req: { namespace: string }): Promise<{
      customAttributes?: Record<string, ListedType> | null;
      systemAttributes?: Record<string, ListedType> | null;
    }>;
  };
}

/**
 * Lists the namespace's search attributes and throws a `ConfigurationError` (one line: the missing
 * names and the command that creates them) when one the workflows write is missing or typed
 * otherwise. A server that does not let this identity list them (permission denied,
 * unimplemented) is not a refusal: `warn` says the check was skipped.
 */
export async function assertSearchAttributes(
  connection: OperatorConnection,
  namespace: string,
  warn: (line: string) => void = (line) => console.warn(line),
): Promise<void> {
  let listed: Record<string, ListedType>;
  try {
    const res = await connection.operatorService.listSearchAttributes({ namespace });
    listed = { ...(res.systemAttributes ?? {}), ...(res.customAttributes ?? {}) };
  } catch (err) {
    const code = (err as { code?: number }).code;
    // gRPC 7 PERMISSION_DENIED, 12 UNIMPLEMENTED, 16 UNAUTHENTICATED: the listing is not ours to read.
    if (code === 7 || code === 12 || code === 16) {
      warn(
        `search attributes of namespace ${namespace} not checked (${(err as Error).message}); ` +
          `the workflows write ${REQUIRED_SEARCH_ATTRIBUTES.map((k) => k.name).join(', ')}`,
      );
      return;
    }
    throw err;
  }
  const message = searchAttributeMessage(searchAttributeProblems(listed), namespace);
  if (message) throw new ConfigurationError(message);
}

/** Temporal Cloud's way to create `missing` (its namespaces refuse the operator service's create). */
export function tcldCommand(missing: SearchAttributeProblems['missing'], namespace: string): string {
  return (
    `tcld namespace search-attributes add --namespace ${namespace} ` +
    missing.map(({ name, type }) => `--search-attribute "${name}=${CLI_TYPE[type]}"`).join(' ')
  );
}

/** The operator service calls `cdc provision temporal` makes. */
export interface SearchAttributeAdmin extends OperatorConnection {
  operatorService: OperatorConnection['operatorService'] & {
    addSearchAttributes(req: {
      namespace: string;
      searchAttributes: Record<string, number>;
    }): Promise<unknown>;
  };
}

const TO_INDEXED: Record<SearchAttributeType, number> = Object.fromEntries(
  Object.entries(FROM_INDEXED).map(([n, t]) => [t, Number(n)]),
) as Record<SearchAttributeType, number>;

export interface SearchAttributeProvisioning {
  namespace: string;
  created: string[];
  /** Already there with the right type. */
  present: string[];
  wrongType: SearchAttributeProblems['wrongType'];
  /** The server refused to create them (Temporal Cloud): the command that does, for an account admin. */
  refused?: { reason: string; command: string };
}

/**
 * Creates the search attributes the workflows write that the namespace lacks (`cdc provision
 * temporal`); with `dryRun`, only says which. Temporal Cloud refuses the operator service's create:
 * then the tcld command is returned for someone with the account's admin rights.
 */
export async function provisionSearchAttributes(
  connection: SearchAttributeAdmin,
  namespace: string,
  opts: { dryRun?: boolean } = {},
): Promise<SearchAttributeProvisioning> {
  const res = await connection.operatorService.listSearchAttributes({ namespace });
  const listed = { ...(res.systemAttributes ?? {}), ...(res.customAttributes ?? {}) };
  const problems = searchAttributeProblems(listed);
  const missingNames = new Set(problems.missing.map((m) => m.name));
  const wrong = new Set(problems.wrongType.map((w) => w.name));
  const out: SearchAttributeProvisioning = {
    namespace,
    created: [],
    present: REQUIRED_SEARCH_ATTRIBUTES.filter((k) => !missingNames.has(k.name) && !wrong.has(k.name)).map(
      (k) => k.name,
    ),
    wrongType: problems.wrongType,
  };
  if (!problems.missing.length || opts.dryRun) {
    if (opts.dryRun && problems.missing.length)
      out.refused = {
        reason: 'dry run',
        command: `${createCommand(problems.missing, namespace)}  # Temporal Cloud: ${tcldCommand(problems.missing, namespace)}`,
      };
    return out;
  }
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(problems.missing.map((m) => [m.name, TO_INDEXED[m.type]])),
    });
    out.created = problems.missing.map((m) => m.name);
  } catch (err) {
    const code = (err as { code?: number }).code;
    // PERMISSION_DENIED, UNIMPLEMENTED, UNAUTHENTICATED: not this identity's to create (Temporal Cloud).
    if (code !== 7 && code !== 12 && code !== 16) throw err;
    out.refused = {
      reason: (err as Error).message.split('\n')[0]!,
      command: tcldCommand(problems.missing, namespace),
    };
  }
  return out;
}
