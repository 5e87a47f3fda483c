/**
 * What a phase costs the processes that consume: CPU seconds (user + system, every thread of the
 * process: JavaScript, the workflow threads, the Temporal SDK's native runtime) and peak resident
 * memory, sampled every 250 ms; and the time each step of the shard readers spent, from the
 * worker's own metrics (`cdc_batch_duration_seconds` of infra/metrics.ts, in this process).
 */
import { readFileSync } from 'node:fs';
import { registry } from '../../infra/metrics';

export interface ProcessUsage {
  cpuSeconds: number;
  rssMb: number;
}

export function selfUsage(): ProcessUsage {
  const cpu = process.cpuUsage();
  return { cpuSeconds: (cpu.user + cpu.system) / 1e6, rssMb: process.memoryUsage().rss / 2 ** 20 };
}

/** Another process's usage from /proc (Linux): utime + stime, VmRSS. */
export function pidUsage(pid: number): ProcessUsage | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuSeconds: ticks / 100, rssMb: Number(rss?.[1] ?? 0) / 1024 };
  } catch {
    return undefined;
  }
}

export interface MeterResult {
  /** Per process: 'self' (this process) and `pid:<n>` for others. */
  processes: Record<string, { cpuSeconds: number; peakRssMb: number }>;
  cpuSeconds: number;
  peakRssMb: number;
}

/** CPU and peak RSS of this process and of `pids` between start() and stop(). */
export class UsageMeter {
  private readonly start0 = new Map<string, ProcessUsage>();
  private readonly peak = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pids: readonly number[] = []) {}

  private read(): Map<string, ProcessUsage> {
    const m = new Map<string, ProcessUsage>([['self', selfUsage()]]);
    for (const pid of this.pids) {
      const u = pidUsage(pid);
      if (u) m.set(`pid:${pid}`, u);
    }
    return m;
  }

  private sample(): Map<string, ProcessUsage> {
    const now = this.read();
    for (const [k, u] of now) this.peak.set(k, Math.max(this.peak.get(k) ?? 0, u.rssMb));
    return now;
  }

  start(): this {
    for (const [k, u] of this.sample()) this.start0.set(k, u);
    this.timer = setInterval(() => this.sample(), 250);
    this.timer.unref();
    return this;
  }

  stop(): MeterResult {
    if (this.timer) clearInterval(this.timer);
    const end = this.sample();
    const processes: MeterResult['processes'] = {};
    for (const [k, u] of end) {
      const s = this.start0.get(k);
      if (!s) continue;
      processes[k] = { cpuSeconds: u.cpuSeconds - s.cpuSeconds, peakRssMb: this.peak.get(k) ?? u.rssMb };
    }
    const all = Object.values(processes);
    return {
      processes,
      cpuSeconds: all.reduce((s, p) => s + p.cpuSeconds, 0),
      peakRssMb: all.reduce((s, p) => s + p.peakRssMb, 0),
    };
  }
}

/** Seconds each shard-reader step took so far in this process, for one consumer (label). */
export async function stepSeconds(consumer: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const metric of await registry.getMetricsAsJSON()) {
    if (metric.name !== 'cdc_batch_duration_seconds') continue;
    for (const v of metric.values as {
      metricName?: string;
      labels: Record<string, unknown>;
      value: number;
    }[]) {
      if (v.metricName !== 'cdc_batch_duration_seconds_sum' || v.labels.consumer !== consumer) continue;
      out[String(v.labels.step)] = (out[String(v.labels.step)] ?? 0) + v.value;
    }
  }
  return out;
}

export function diffRecord(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) out[k] = (b[k] ?? 0) - (a[k] ?? 0);
  return out;
}
