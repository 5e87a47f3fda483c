/**
 * The load generator and the latency probes in a process of their own, so the benchmark's process
 * holds only what is measured (the worker, or the direct consumer) and its CPU is not the load
 * generator's. The parent drives it over IPC: `LoadProcess.start()`, then `call(command, args)`.
 *
 * Child commands: init (tag, shape), seed, target (queues to drain, entity table to watch),
 * runRate / runFast (the mixed workload), stats (a window of commits), usage, cleanup.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Pool } from 'pg';
import { awsClients } from '../../infra/aws';
import { DynamoWatcher, SqsReceivers, windowStats, type WindowQuery, type WindowStats } from './latency';
import { DEFAULT_SHAPE, MixedWorkload, type LoadResult, type WorkloadShape } from './load';

export interface Target {
  queues: { url: string; receivers: number }[];
  /** The entity table to watch (undefined: no DynamoDB probing, e.g. while draining a backlog). */
  entitiesTable?: string;
}

interface Commands {
  init: {
    args: { tag: string; shape?: Partial<WorkloadShape>; poolSize?: number };
    result: { hotPks: number };
  };
  seed: { args: Record<string, never>; result: { ms: number } };
  target: { args: Target; result: { ok: true } };
  runRate: { args: { rate: number; seconds: number }; result: LoadResult };
  runFast: { args: { count: number; concurrency: number }; result: LoadResult };
  stats: { args: WindowQuery; result: WindowStats };
  usage: {
    args: Record<string, never>;
    result: {
      cpuSeconds: number;
      rssMb: number;
      sqsReceived: number;
      sqsErrors: number;
      dynamoPolls: number;
    };
  };
  cleanup: { args: Record<string, never>; result: { ok: true } };
}
export type Command = keyof Commands;

type Request = { id: number; cmd: Command; args: unknown };
type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** The parent's handle on the load process. */
export class LoadProcess {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited = false;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`load process: ${m.error}`));
    });
    child.once('exit', (code, signal) => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error(`load process exited (${code ?? signal})`));
      this.pending.clear();
    });
  }

  /** Starts the child (this file, through tsx's loader) with this process's environment. */
  static start(): LoadProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', __filename, '--child'], {
      env: process.env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new LoadProcess(child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  call<C extends Command>(cmd: C, args: Commands[C]['args']): Promise<Commands[C]['result']> {
    if (this.exited) return Promise.reject(new Error('load process is gone'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, cmd, args } satisfies Request);
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    await gone;
  }
}

/** The child: workload, SQS receivers and DynamoDB watcher, answering the parent's commands. */
function child(): void {
  let workload: MixedWorkload | undefined;
  let pool: Pool | undefined;
  let hotPks: string[] = [];
  let tag = '';
  const { sqs, doc } = awsClients();
  const receivers = new SqsReceivers(sqs, (entityId) => tag !== '' && entityId.includes(tag));
  const watcher = new DynamoWatcher(doc);
  watcher.start();
  let sampleEvery = 4;
  let counter = 0;
  const onCommitted = (c: { pk: string; kind: string }, sentMs: number) => {
    if (c.kind === 'hot') return; // always watched
    if (++counter % sampleEvery === 0) watcher.watch(c.pk, sentMs);
  };
  const need = () => {
    if (!workload) throw new Error('init first');
    return workload;
  };

  const handlers: { [C in Command]: (args: Commands[C]['args']) => Promise<Commands[C]['result']> } = {
    async init(args) {
      tag = args.tag;
      pool = new Pool({ max: args.poolSize ?? 16 });
      workload = new MixedWorkload(pool, tag, { ...DEFAULT_SHAPE, ...args.shape });
      // A dozen of the hot rows are watched all the time (each poll costs DynamoDB Local time).
      hotPks = workload.hotPks().slice(0, 12);
      return { hotPks: hotPks.length };
    },
    async seed() {
      const t0 = Date.now();
      await need().seed();
      return { ms: Date.now() - t0 };
    },
    async target(args) {
      await receivers.stop();
      receivers.start(args.queues);
      watcher.setTable(args.entitiesTable);
      const now = Date.now();
      if (args.entitiesTable) for (const pk of hotPks) watcher.watch(pk, now, { permanent: true });
      return { ok: true };
    },
    async runRate(args) {
      // Sample fewer keys at high rates: the watcher polls at most 24 sampled keys at a time.
      sampleEvery = Math.max(2, Math.round(args.rate / 10));
      return need().runAtRate(args.rate, args.seconds, onCommitted);
    },
    async runFast(args) {
      sampleEvery = 50;
      return need().runFast(args.count, args.concurrency, onCommitted);
    },
    async stats(args) {
      return windowStats(receivers.samples, watcher.samples, args);
    },
    async usage() {
      const cpu = process.cpuUsage();
      return {
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        rssMb: process.memoryUsage().rss / 2 ** 20,
        sqsReceived: receivers.received,
        sqsErrors: receivers.errors,
        dynamoPolls: watcher.polls,
      };
    },
    async cleanup() {
      await need().cleanup();
      return { ok: true };
    },
  };

  process.on('message', (m: Request) => {
    const handler = handlers[m.cmd] as (args: unknown) => Promise<unknown>;
    handler(m.args).then(
      (result) => process.send?.({ id: m.id, ok: true, result } satisfies Reply),
      (err: unknown) =>
        process.send?.({
          id: m.id,
          ok: false,
          error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
        } satisfies Reply),
    );
  });
  const shutdown = () => {
    void (async () => {
      await receivers.stop().catch(() => undefined);
      await watcher.stop().catch(() => undefined);
      await pool?.end().catch(() => undefined);
      process.exit(0);
    })();
  };
  process.once('SIGTERM', shutdown);
  process.once('disconnect', shutdown);
}

if (require.main === module && process.argv.includes('--child')) child();
