import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

/**
 * Docs true to the code (issue 21 item 4): every repository path README.md and docs/*.md name
 * exists, and the README's layout names every top-level folder git tracks.
 *
 * What counts as a path (the rules, small on purpose):
 * - Looked at: inline code spans and link targets `[…](target)`, outside fenced code blocks
 *   (those are shell sessions).
 * - Link targets: skipped when they are URLs (`scheme:`) or anchors (`#…`); the `#anchor` is
 *   dropped; resolved against the doc's own folder, as Markdown does.
 * - Code spans: a candidate only if it is made of `A-Z a-z 0-9 _ . / -` alone (so URLs, commands
 *   with spaces, globs, `<placeholders>`, `$VARS`, `KEY=value`, `…` are out), does not start with
 *   `/`, and ends in a known extension, ends in `/`, or starts with a top-level name of the repo.
 *   Skipped: things created at runtime (`.cache/`, `.stack/`, `dist/`, `node_modules/`) and
 *   third-party paths (`moto/`, moto's own source).
 * - A candidate whose first segment is a top-level name of the repo (`infra/config.ts`,
 *   `README.md`, `.ci/run`) is checked from the repo root. Any other (a name given relative to the
 *   folder a paragraph is about: `pull.ts`, `shardReader/`, `core/`) must name a file or folder
 *   somewhere in the repo (a path ending in it).
 */

const ROOT = join(__dirname, '..', '..');
const EXTENSION = /\.(ts|md|sh|json|sql|py|cjs|mjs|yml|yaml|html)$/;
const PATH_CHARS = /^[A-Za-z0-9_./-]+$/;
const RUNTIME = ['.cache/', '.stack/', 'dist/', 'node_modules/'];
const THIRD_PARTY = ['moto/'];

interface Named {
  doc: string;
  line: number;
  token: string;
  /** The path checked, relative to the repo root; undefined: must end some path in the repo. */
  path?: string;
}

function gitFiles(): string[] {
  // Tracked files plus new ones not ignored: what a commit of this tree would hold.
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return out.split('\0').filter((f) => f !== '' && existsSync(join(ROOT, f)));
}

const files = gitFiles();
const topLevelNames = new Set(files.map((f) => f.split('/')[0]));
/** Every file and folder present, with a trailing `/` on folders. */
const allPaths = new Set<string>();
for (const f of files) {
  allPaths.add(f);
  const parts = f.split('/');
  for (let i = 1; i < parts.length; i++) allPaths.add(parts.slice(0, i).join('/') + '/');
}

const docs = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];

/** The doc's text with fenced code blocks blanked out, line numbers kept. */
function proseOf(doc: string): string {
  let fenced = false;
  return readFileSync(join(ROOT, doc), 'utf8')
    .split('\n')
    .map((line) => {
      if (/^\s*(```|~~~)/.test(line)) {
        fenced = !fenced;
        return '';
      }
      return fenced ? '' : line;
    })
    .join('\n');
}

function lineAt(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

function fromCodeSpan(token: string, doc: string): Pick<Named, 'path'> | null {
  if (!PATH_CHARS.test(token) || token.startsWith('/')) return null;
  if ([...RUNTIME, ...THIRD_PARTY].some((p) => token.startsWith(p))) return null;
  const first = token.split('/')[0] ?? '';
  if (token.startsWith('./') || token.startsWith('../')) {
    return { path: posix.normalize(posix.join(posix.dirname(doc), token)) };
  }
  if (topLevelNames.has(first)) return { path: token };
  if (EXTENSION.test(token) || token.endsWith('/')) return { path: undefined };
  return null;
}

function fromLink(target: string, doc: string): Pick<Named, 'path'> | null {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) return null;
  const path = target.split('#')[0] ?? '';
  return { path: posix.normalize(posix.join(posix.dirname(doc), decodeURI(path))) };
}

function namedPaths(): Named[] {
  const named: Named[] = [];
  for (const doc of docs) {
    const text = proseOf(doc);
    for (const m of text.matchAll(/(`+)([^`]+?)\1(?!`)/g)) {
      const token = (m[2] ?? '').trim();
      const r = fromCodeSpan(token, doc);
      if (r) named.push({ doc, line: lineAt(text, m.index ?? 0), token, ...r });
    }
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const token = m[1] ?? '';
      const r = fromLink(token, doc);
      if (r) named.push({ doc, line: lineAt(text, m.index ?? 0), token, ...r });
    }
  }
  return named;
}

function exists(n: Named): boolean {
  if (n.path !== undefined) return existsSync(join(ROOT, n.path));
  return [...allPaths].some((p) => p === n.token || p.endsWith('/' + n.token));
}

describe('docs name paths that exist', () => {
  const named = namedPaths();

  it(`every path README.md and docs/*.md name exists (${named.length} mentions)`, () => {
    assert.ok(named.length > 100, `the extraction found only ${named.length} paths: its rules are broken`);
    const missing = named
      .filter((n) => !exists(n))
      .map((n) =>
        n.path === undefined
          ? `${n.doc}:${n.line} \`${n.token}\` (no file or folder of that name)`
          : `${n.doc}:${n.line} \`${n.token}\`${n.path === n.token ? '' : ` (${n.path})`}`,
      );
    if (missing.length > 0)
      assert.fail(`paths named in the docs that do not exist:\n  ${missing.join('\n  ')}`);
  });

  it("the README's layout names every top-level folder git tracks", () => {
    const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n');
    const start = lines.findIndex((l) => /^\s*- Layout:/.test(l));
    assert.ok(start >= 0, 'README.md has no "- Layout:" list');
    const indent = (l: string) => l.length - l.trimStart().length;
    const own = indent(lines[start] ?? '');
    let end = start + 1;
    while (end < lines.length) {
      const l = lines[end] ?? '';
      if (l.trim() === '' || /^#/.test(l) || indent(l) <= own) break;
      end++;
    }
    const section = lines.slice(start, end).join('\n');
    const mentioned = new Set(
      [...section.matchAll(/`([^`\s]+\/[^`\s]*)`/g)].map((m) => (m[1] ?? '').split('/')[0]),
    );
    const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
      .split('\0')
      .filter((f) => f.includes('/'))
      .map((f) => f.split('/')[0] ?? '');
    const folders = [...new Set(tracked)].filter((d) => !d.startsWith('.')).sort();
    const missing = folders.filter((d) => !mentioned.has(d));
    if (missing.length > 0) {
      assert.fail(
        `README.md's layout (line ${start + 1}) does not name: ${missing.map((d) => `${d}/`).join(', ')}`,
      );
    }
  });
});
