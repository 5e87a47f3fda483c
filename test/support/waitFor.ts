import { setTimeout as sleep } from 'node:timers/promises';
/** Polls `probe` until it returns a value other than undefined, or fails with a message saying what did not happen. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  opts: { timeoutMs?: number; intervalMs?: number; lastSeen?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const seen = opts.lastSeen ? `; last seen: ${opts.lastSeen()}` : '';
      const err = lastError ? `; last error: ${(lastError as Error).message}` : '';
      throw new Error(`timed out after ${opts.timeoutMs ?? 30_000} ms waiting for ${what}${seen}${err}`);
    }
    await sleep(opts.intervalMs ?? 200);
  }
}
