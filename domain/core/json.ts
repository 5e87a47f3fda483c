/** JSON values as they travel through the pipeline (rows are JSON objects of converted column values). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };
export type Row = Record<string, JsonValue>;

/** JSON with object keys sorted, so equal values always serialize to the same string. */
export function stableStringify(value: JsonValue | undefined): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => stableStringify(v)).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(value[k])}`).join(',')}}`;
}

export function deepEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  return stableStringify(a) === stableStringify(b);
}
