import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT, SEARCH_ATTRIBUTES, SERVICE_NAMES } from '../../infra/localStack/localStack';

/** docker-compose.yml must keep describing the same stack as the Docker-free one in infra/localStack/localStack.ts. */

interface ComposeService {
  image?: string;
  command?: string | string[];
  ports?: (string | number | { published?: string | number; host_ip?: string })[];
  environment?: Record<string, string | number | boolean | null> | string[];
}

interface ComposeFile {
  services: Record<string, ComposeService>;
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as ComposeFile;
const services = compose.services;

function service(name: string): ComposeService {
  const s = services[name];
  assert.ok(s, `docker-compose.yml has no service '${name}'`);
  return s;
}

/** The command as an argument list (shell-style strings split on whitespace; enough for these commands). */
function commandArgs(s: ComposeService): string[] {
  if (s.command === undefined) return [];
  return Array.isArray(s.command) ? s.command.map(String) : s.command.trim().split(/\s+/);
}

function environment(s: ComposeService): Record<string, string> {
  const env = s.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((e) => {
        const i = e.indexOf('=');
        return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

describe('docker-compose.yml', () => {
  it('names every service of the local stack, plus the worker', () => {
    for (const name of [...SERVICE_NAMES, 'worker']) service(name);
  });

  it('pins every image tag', () => {
    for (const [name, s] of Object.entries(services)) {
      assert.ok(s.image, `${name} has no image`);
      const lastSegment = s.image.split('/').at(-1) ?? '';
      const [, tag] = lastSegment.split(':');
      assert.ok(tag, `${name}: image ${s.image} has no tag`);
      assert.notEqual(tag, 'latest', `${name}: image ${s.image} uses 'latest'`);
    }
  });

  it('publishes ports on 127.0.0.1 only', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const p of s.ports ?? []) {
        if (typeof p === 'object') {
          assert.equal(
            p.host_ip,
            '127.0.0.1',
            `${name}: port ${JSON.stringify(p)} is not bound to 127.0.0.1`,
          );
        } else {
          assert.match(
            String(p),
            /^127\.0\.0\.1:\d+:\d+(\/(tcp|udp))?$/,
            `${name}: port ${p} is not bound to 127.0.0.1`,
          );
        }
      }
    }
  });

  it('runs PostgreSQL with logical decoding', () => {
    const args = commandArgs(service('postgres'));
    assert.ok(
      args.some((a, i) => a === 'wal_level=logical' && args[i - 1] === '-c') ||
        args.includes('-cwal_level=logical'),
      `postgres command does not set wal_level=logical: ${args.join(' ')}`,
    );
  });

  it('registers every search attribute with the Temporal dev server, with the same type', () => {
    const args = commandArgs(service('temporal'));
    const registered = new Map<string, string>();
    args.forEach((a, i) => {
      const value =
        a === '--search-attribute'
          ? args[i + 1]
          : a.startsWith('--search-attribute=')
            ? a.slice(19)
            : undefined;
      if (value === undefined) return;
      const eq = value.indexOf('=');
      registered.set(value.slice(0, eq), value.slice(eq + 1));
    });
    assert.deepEqual(Object.fromEntries(registered), { ...SEARCH_ATTRIBUTES });
  });

  it('points the worker at the other services by name', () => {
    const env = environment(service('worker'));
    const expected: Record<string, string> = {
      AWS_ENDPOINT_URL_KINESIS: 'kinesis',
      AWS_ENDPOINT_URL_DYNAMODB: 'dynamodb',
      AWS_ENDPOINT_URL_EVENTBRIDGE: 'moto',
      AWS_ENDPOINT_URL_SQS: 'moto',
      PGHOST: 'postgres',
      TEMPORAL_ADDRESS: 'temporal',
    };
    for (const [key, host] of Object.entries(expected)) {
      assert.ok(env[key], `worker environment does not set ${key}`);
      assert.match(
        env[key],
        new RegExp(`^(https?://)?${host}(:\\d+)?$`),
        `${key}=${env[key]} does not point at ${host}`,
      );
      service(host);
    }
  });
});
