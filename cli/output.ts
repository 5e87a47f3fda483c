/**
 * What `cdc` prints: one JSON document on stdout with `--json` (machines), tables and lines
 * otherwise (humans). Progress goes to stderr in JSON mode, so stdout stays one document.
 */

/** Where the program writes (the process's streams, or a test's buffers). */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processIo: Io = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

export class Output {
  /** Whether the command's result was written (a failure after it adds no second document). */
  written = false;

  constructor(
    readonly io: Io,
    readonly json: boolean,
  ) {}

  /** The command's result: `doc` as JSON with --json, else the text `human()` returns. */
  result(doc: unknown, human: () => string): void {
    this.written = true;
    this.io.stdout(this.json ? `${JSON.stringify(doc, null, 2)}\n` : ensureNewline(human()));
  }

  /** One compact JSON document per line (`status --watch --json`), or the human text. */
  stream(doc: unknown, human: () => string): void {
    this.written = true;
    this.io.stdout(this.json ? `${JSON.stringify(doc)}\n` : ensureNewline(human()));
  }

  /** A progress line for humans: stdout normally, stderr with --json. */
  info(line: string): void {
    if (this.json) this.io.stderr(ensureNewline(line));
    else this.io.stdout(ensureNewline(line));
  }

  /** A warning, always on stderr. */
  warn(line: string): void {
    this.io.stderr(ensureNewline(line));
  }
}

const ensureNewline = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);

type Cell = string | number | undefined | null;

/** A plain-text table: a header row, columns padded to their widest cell, two spaces apart. */
export function table(headers: string[], rows: Cell[][], indent = ''): string {
  const text = rows.map((r) => headers.map((_, i) => cell(r[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    indent +
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...text.map(line)].join('\n');
}

const cell = (v: Cell) => (v === undefined || v === null || v === '' ? '-' : String(v));

/** 950ms, 12.3s, 4m05s, 2h10m, 3d04h. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** 512 B, 1.5 KiB, 3.2 MiB, 1.0 GiB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** A per-second rate: 0, 0.4/s, 12/s, 1.2k/s. */
export function formatRate(perSecond: number | undefined): string {
  if (perSecond === undefined || !Number.isFinite(perSecond)) return '-';
  if (perSecond === 0) return '0/s';
  if (perSecond < 10) return `${perSecond.toFixed(1)}/s`;
  if (perSecond < 1000) return `${Math.round(perSecond)}/s`;
  return `${(perSecond / 1000).toFixed(1)}k/s`;
}

/** A long Kinesis sequence number shortened for a table column (`…` and its last digits). */
export function shortSequence(seq: string | undefined, keep = 12): string | undefined {
  if (seq === undefined) return undefined;
  return seq.length > keep + 1 ? `…${seq.slice(-keep)}` : seq;
}

/** How long ago an ISO time was, for humans ("3.2s ago"). */
export function ago(iso: string | undefined, now = Date.now()): string | undefined {
  if (!iso) return undefined;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : `${formatDuration(Math.max(0, now - t))} ago`;
}
