/**
 * Waiting for a condition instead of sleeping a fixed time: the tests run on
 * shared, slow machines, where a fixed sleep is either too short (flaky) or
 * too long (slow).
 */

export interface WaitOptions {
  /** Give up after this long. @default 15000 */
  timeoutMs?: number;
  /** Pause between attempts. @default 50 */
  intervalMs?: number;
  /** Said in the timeout error. */
  what?: string;
}

/**
 * Calls `probe` until it returns something other than undefined/false, and
 * returns that. Throws (with the last value seen) when `timeoutMs` passes.
 */
export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, opts: WaitOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let attempt = 0; ; attempt++) {
    last = await probe();
    if (last !== undefined && last !== false) return last as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? "a condition"} (${attempt + 1} attempts; last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}
