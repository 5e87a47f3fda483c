import { createHmac } from 'node:crypto';
import type { JsonValue, Row } from '../core/json';
import type { FieldChange, PipelineEvent } from '../core/pipelineEvent';
import { REDACTION_POLICY_VERSION, tableConfig, type Redaction } from '../core/tables';

const MASK = '****';

function keyed(secret: string, purpose: string, value: JsonValue): string {
  return createHmac('sha256', secret)
    .update(`${purpose}\u0000${JSON.stringify(value)}`)
    .digest('hex');
}

/** One redaction applied to one value; `undefined` means the field is removed. */
export function redactValue(kind: Redaction, value: JsonValue, secret: string): JsonValue | undefined {
  if (kind === 'REMOVE') return undefined;
  if (value === null) return null;
  switch (kind) {
    case 'HASH':
      // Keyed (HMAC), so a guessed value cannot be hashed by an outsider to find a match.
      return `hash:${keyed(secret, 'hash', value).slice(0, 32)}`;
    case 'TOKENIZE':
      return `tok_${keyed(secret, 'token', value).slice(0, 24)}`;
    case 'FULL_MASK':
      return MASK;
    case 'PARTIAL_MASK': {
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      const visible = text.length > 8 ? 4 : text.length > 4 ? 2 : 0;
      return '*'.repeat(Math.max(text.length - visible, 4)) + text.slice(text.length - visible);
    }
  }
}

function redactRow(row: Row | null, rules: Record<string, Redaction>, secret: string): Row | null {
  if (row === null) return null;
  const out: Row = { ...row };
  for (const [col, kind] of Object.entries(rules)) {
    if (!(col in out)) continue;
    const v = redactValue(kind, out[col], secret);
    if (v === undefined) delete out[col];
    else out[col] = v;
  }
  return out;
}

/** Applies the table's redaction rules to key, images and changes, and stamps the policy version. */
export function redactEvent(event: PipelineEvent, secret: string): PipelineEvent {
  const cfg = tableConfig(event.table);
  const rules = cfg.redactions;
  const changes: Record<string, FieldChange> = {};
  for (const [col, ch] of Object.entries(event.changes)) {
    const kind = rules[col];
    if (!kind) changes[col] = ch;
    else if (kind !== 'REMOVE')
      changes[col] = { old: redactValue(kind, ch.old, secret)!, new: redactValue(kind, ch.new, secret)! };
  }
  // The key (and so entityId) identifies the row and is never redacted: key columns may only be
  // REMOVEd from the images (domain/core/tables.ts).
  return {
    ...event,
    before: redactRow(event.before, rules, secret),
    after: redactRow(event.after, rules, secret),
    changes,
    redactionPolicy: REDACTION_POLICY_VERSION,
  };
}
