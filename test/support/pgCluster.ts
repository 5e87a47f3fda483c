/**
 * A PostgreSQL cluster of a test's own: `initdb` in a temporary directory, `pg_ctl start` on a
 * free port, stopped (and the directory removed) by `stop()`. The same approach as
 * test/integration/sourceEpoch.test.ts: the newest installed server's binaries, run as `postgres`
 * (runuser) when the test runs as root, since initdb refuses root.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';

export const asRoot = process.getuid?.() === 0;

/** The uid files the server reads must belong to (postgres when root, else ours). */
export function serverUid(): number {
  return asRoot
    ? Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout)
    : process.getuid!();
}

/** A PostgreSQL tool of the newest installed version (the stack's binaries), as `postgres` when root. */
function pgTool(tool: string, args: string[]): [string, string[]] {
  const version = readdirSync('/usr/lib/postgresql')
    .sort((a, b) => Number(a) - Number(b))
    .at(-1);
  const exe = join('/usr/lib/postgresql', version!, 'bin', tool);
  return asRoot ? ['runuser', ['-u', 'postgres', '--', exe, ...args]] : [exe, args];
}

function runPg(tool: string, args: string[]): void {
  const [cmd, full] = pgTool(tool, args);
  const r = spawnSync(cmd, full, { encoding: 'utf8', cwd: '/' });
  if (r.status !== 0) throw new Error(`${tool} failed: ${(r.stderr || r.stdout).trim()}`);
}

export interface TestCluster {
  port: number;
  /** The temporary directory (the server's files; `data` inside). */
  dir: string;
  stop(): void;
}

/**
 * Starts a cluster. `prepare(dir)` runs after initdb, before the start (write certificates there);
 * `hba` replaces pg_hba.conf; `settings(dir)` are extra `-c name=value` server settings (default:
 * listen on 127.0.0.1).
 */
export async function startTestCluster(
  opts: {
    prefix: string;
    settings?: (dir: string) => string[];
    hba?: string;
    prepare?: (dir: string) => void;
  } = {
    prefix: 'cdc-pg-',
  },
): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), opts.prefix));
  if (asRoot) chownSync(dir, serverUid(), 0);
  const data = join(dir, 'data');
  try {
    runPg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C']);
    opts.prepare?.(dir);
    if (opts.hba !== undefined) {
      const hba = join(data, 'pg_hba.conf');
      writeFileSync(hba, opts.hba, { mode: 0o600 });
      if (asRoot) chownSync(hba, serverUid(), 0);
    }
    const port = await freePort();
    const settings = [
      `-c port=${port}`,
      `-c unix_socket_directories=${dir}`,
      '-c fsync=off',
      ...(opts.settings?.(dir) ?? ['-c listen_addresses=127.0.0.1']),
    ].join(' ');
    runPg('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', settings, '-w', '-t', '60', 'start']);
    return {
      port,
      dir,
      stop() {
        try {
          runPg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
