import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigurationError } from '../domain/core/errors';
import { parseTableFile, useTables, type TableRegistry } from '../domain/core/tables';

/** The table file that ships with the product (the design documents' contract). */
export const DEFAULT_TABLES_FILE = resolve(__dirname, '../config/tables.yaml');

/**
 * Reads and validates a table file (YAML, or JSON, which is YAML too) and installs it as the
 * configuration every domain function reads. Errors name the file, the table and the field.
 */
export function loadTables(file: string = process.env.CDC_TABLES_FILE || DEFAULT_TABLES_FILE): TableRegistry {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigurationError(
      `cannot read the table file ${path} (CDC_TABLES_FILE): ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    throw new ConfigurationError(`invalid table file ${path}: not YAML/JSON (${(err as Error).message})`);
  }
  const registry = parseTableFile(doc, path);
  useTables(registry);
  return registry;
}
