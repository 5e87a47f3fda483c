import { createHmac } from 'node:crypto';
import type { JsonValue, Row } from '../core/json';
import type { FieldChange, PipelineEvent } from '../core/pipelineEvent';
import {
  tableConfig,
  tableRegistry,
  unruledPiiColumns,
  type Redaction,
  type RedactionRule,
  type TableConfig,
} from '../core/tables';

/** The HMAC secret of HASH and TOKENIZE, and the id that names it in each event's policy. */
export interface RedactionKey {
  secret: string;
  keyId: string;
}

const FULL_MASK = '***REDACTED***';
const EMAIL = /^([^@\s]+)@([^@\s]+)$/;

function keyed(secret: string, purpose: string, value: JsonValue): string {
  return createHmac('sha256', secret)
    .update(`${purpose}\u0000${JSON.stringify(value)}`)
    .digest('hex');
}

/**
 * PARTIAL_MASK. An e-mail address keeps the first `visibleChars` (default 1) characters of its
 * local part and its domain, the rest of the local part masked character for character, as the
 * documents' example shows (`old@example.com` → `o**@example.com`). Any other value keeps
 * `visibleChars` (default 4) characters at `visibleAt` (default the end: a card's or phone's last
 * four) and masks the rest, with at least four mask characters so a short value is not given away.
 */
function partialMask(text: string, rule: RedactionRule): string {
  const mask = rule.maskChar ?? '*';
  const email = EMAIL.exec(text);
  if (email) {
    const [, local = '', domain = ''] = email;
    const visible = Math.min(rule.visibleChars ?? 1, local.length - 1);
    return `${local.slice(0, Math.max(visible, 0))}${mask.repeat(local.length - Math.max(visible, 0))}@${domain}`;
  }
  const wanted = rule.visibleChars ?? 4;
  // Never show more than half of a value.
  const visible = Math.min(wanted, Math.floor(text.length / 2));
  const hidden = mask.repeat(Math.max(text.length - visible, 4));
  if (visible === 0) return hidden;
  return rule.visibleAt === 'start'
    ? `${text.slice(0, visible)}${hidden}`
    : `${hidden}${text.slice(-visible)}`;
}

/** One redaction applied to one value; `undefined` means the field is removed. */
export function redactValue(
  rule: Redaction | RedactionRule,
  value: JsonValue,
  secret: string,
): JsonValue | undefined {
  const r: RedactionRule = typeof rule === 'string' ? { action: rule } : rule;
  if (r.action === 'REMOVE') return undefined;
  if (value === null) return null;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  switch (r.action) {
    case 'HASH':
      // Keyed (HMAC), so a guessed value cannot be hashed by an outsider to find a match.
      return `hash:${keyed(secret, 'hash', value).slice(0, 32)}`;
    case 'TOKENIZE':
      // Deterministic: the same value gets the same token everywhere, joinable but not readable.
      return `tok_${keyed(secret, 'token', value).slice(0, 24)}`;
    case 'FULL_MASK':
      return r.maskChar ? r.maskChar.repeat(8) : FULL_MASK;
    case 'PARTIAL_MASK':
      return partialMask(text, r);
  }
}

/** The rules for an event: the table's, plus REMOVE for unruled PII-named columns when the file says `drop`. */
function rulesFor(cfg: TableConfig, event: PipelineEvent): Record<string, RedactionRule> {
  if (tableRegistry().unruledPii !== 'drop') return cfg.redactions;
  const columns = new Set([
    ...Object.keys(event.before ?? {}),
    ...Object.keys(event.after ?? {}),
    ...Object.keys(event.changes),
  ]);
  const rules: Record<string, RedactionRule> = { ...cfg.redactions };
  for (const col of unruledPiiColumns(cfg, columns)) rules[col] = { action: 'REMOVE' };
  return rules;
}

function redactRow(row: Row | null, rules: Record<string, RedactionRule>, secret: string): Row | null {
  if (row === null) return null;
  const out: Row = { ...row };
  for (const [col, rule] of Object.entries(rules)) {
    if (!(col in out)) continue;
    const v = redactValue(rule, out[col], secret);
    if (v === undefined) delete out[col];
    else out[col] = v;
  }
  return out;
}

/** `<policyVersion>@<keyId>`: which rules and which secret produced an event's redacted values. */
export function redactionPolicy(cfg: TableConfig, key: RedactionKey): string {
  return `${cfg.policyVersion}@${key.keyId}`;
}

/** Applies the table's redaction rules to images and changes, and stamps the policy and key id. */
export function redactEvent(event: PipelineEvent, key: RedactionKey): PipelineEvent {
  const cfg = tableConfig(event.table);
  const rules = rulesFor(cfg, event);
  const changes: Record<string, FieldChange> = {};
  for (const [col, ch] of Object.entries(event.changes)) {
    const rule = rules[col];
    if (!rule) changes[col] = ch;
    else if (rule.action !== 'REMOVE')
      changes[col] = {
        old: redactValue(rule, ch.old, key.secret)!,
        new: redactValue(rule, ch.new, key.secret)!,
      };
  }
  // The key (and so entityId) identifies the row and is never redacted: key columns may only be
  // REMOVEd from the images (domain/core/tables.ts).
  return {
    ...event,
    before: redactRow(event.before, rules, key.secret),
    after: redactRow(event.after, rules, key.secret),
    changes,
    entityRef: Object.keys(cfg.redactions).length
      ? `hash:${keyed(key.secret, 'entity', `${event.table}#${event.entityId}`).slice(0, 16)}`
      : event.entityId,
    redactionPolicy: redactionPolicy(cfg, key),
  };
}
