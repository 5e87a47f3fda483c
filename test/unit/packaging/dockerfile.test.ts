import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../../infra/localStack/localStack';

/**
 * The worker's Dockerfile (issue 22, item 3), read as text (no Docker engine here): two stages on
 * the same Node base, the build stage installs everything and runs `npm run build`, the runtime
 * stage installs production dependencies only, copies dist/ from the build stage, runs as a
 * non-root user, probes /healthz and starts the compiled worker. The build stage copies every
 * folder tsconfig.build.json compiles, and .dockerignore keeps none of them out.
 */

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string;
  body: Instruction[];
}

function parseDockerfile(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ') // continuation lines
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    assert.ok(m, `unreadable Dockerfile line: ${line}`);
    const op = m[1].toUpperCase();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(m[2].trim());
      assert.ok(f, `unreadable FROM: ${line}`);
      stages.push({ from: f[1], name: f[2] ?? String(stages.length), body: [] });
    } else {
      assert.ok(stages.length, `${op} before FROM`);
      stages.at(-1)!.body.push({ op, args: m[2].trim() });
    }
  }
  return stages;
}

const stages = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const build = stages.find((s) => s.name === 'build');
const runtime = stages.at(-1)!;
const ops = (s: Stage, op: string) => s.body.filter((i) => i.op === op).map((i) => i.args);

describe('Dockerfile (packaging)', () => {
  it('builds in a build stage and runs in a runtime stage, both node:20-bookworm-slim', () => {
    assert.ok(build, 'no stage named build');
    assert.equal(stages.length, 2);
    for (const s of stages) assert.equal(s.from, 'node:20-bookworm-slim', `stage ${s.name}`);
    assert.equal(runtime.name, 'runtime');
  });

  it('installs every dependency and runs npm run build in the build stage', () => {
    const runs = ops(build!, 'RUN');
    assert.ok(
      runs.some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r)),
      runs.join(' | '),
    );
    assert.ok(
      runs.some((r) => /\bnpm run build\b/.test(r)),
      runs.join(' | '),
    );
  });

  it('installs production dependencies only in the runtime stage and copies dist/ from the build stage', () => {
    const runs = ops(runtime, 'RUN');
    assert.ok(
      runs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r)),
      runs.join(' | '),
    );
    assert.ok(!runs.some((r) => /npm (run )?build|\btsc\b|\btsx\b/.test(r)), runs.join(' | '));
    assert.ok(
      ops(runtime, 'COPY').some((c) => /^--from=build\s+\/app\/dist\s+dist\/?$/.test(c)),
      ops(runtime, 'COPY').join(' | '),
    );
  });

  it('runs as a non-root user', () => {
    const users = ops(runtime, 'USER');
    assert.ok(users.length, 'no USER in the runtime stage');
    assert.ok(!/^(root|0)(:|$)/.test(users.at(-1)!), `USER ${users.at(-1)}`);
  });

  it('probes /healthz on the health port the image sets', () => {
    const check = ops(runtime, 'HEALTHCHECK').join(' ');
    assert.match(check, /\/healthz/);
    assert.match(check, /CDC_HEALTH_PORT/);
    const env = ops(runtime, 'ENV').join(' ');
    assert.match(env, /CDC_HEALTH_PORT=\d+/);
    assert.match(env, /CDC_HEALTH_HOST=0\.0\.0\.0/);
  });

  it('starts the compiled worker, a module tsconfig.build.json emits', () => {
    const cmd = ops(runtime, 'CMD');
    assert.equal(cmd.length, 1);
    const argv = JSON.parse(cmd[0]) as string[]; // exec form: no shell between the signal and node
    assert.deepEqual(argv, ['node', 'dist/workers/worker.js']);
    // dist/<path>.js is emitted from <path>.ts of a folder tsconfig.build.json compiles.
    const source = argv[1].replace(/^dist\//, '').replace(/\.js$/, '.ts');
    assert.ok(existsSync(join(ROOT, source)), `${source} does not exist`);
    const include = buildConfigInclude();
    assert.ok(include.includes(source.split('/')[0]), `tsconfig.build.json does not compile ${source}`);
  });

  it('copies every folder tsconfig.build.json compiles into the build stage, and .dockerignore keeps none out', () => {
    // COPY <source>... <destination>: every word but the last.
    const copied = ops(build!, 'COPY').flatMap((c) => c.split(/\s+/).slice(0, -1));
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim().replace(/\/$/, ''))
      .filter((l) => l && !l.startsWith('#'));
    for (const folder of [
      ...buildConfigInclude(),
      'config',
      'scripts/buildAssets.mjs',
      'tsconfig.build.json',
    ]) {
      assert.ok(copied.includes(folder), `the build stage does not COPY ${folder}`);
      assert.ok(!ignored.includes(folder.split('/')[0]), `.dockerignore leaves out ${folder}`);
    }
    for (const local of ['node_modules', '.stack', '.cache', 'dist', '.git'])
      assert.ok(ignored.includes(local), `.dockerignore does not leave out ${local}`);
  });
});

function buildConfigInclude(): string[] {
  // tsconfig files allow comments: drop them before JSON.parse.
  const text = readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8').replace(/^\s*\/\/.*$/gm, '');
  return (JSON.parse(text) as { include: string[] }).include;
}
