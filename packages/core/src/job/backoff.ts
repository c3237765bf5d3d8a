import type { BackoffOptions } from './types.js';

/**
 * Milliseconds to wait before attempt `attemptsMade + 1`, given that
 * `attemptsMade` attempts have failed. Jitter `j` (0..1) spreads the wait
 * uniformly over `[delay * (1 - j), delay]`, so retries of many jobs failing
 * together do not arrive together, and never come earlier than `(1 - j)` of
 * the nominal wait.
 */
export function backoffDelay(backoff: BackoffOptions | undefined, attemptsMade: number, random = Math.random): number {
  if (!backoff) return 0;
  const nominal =
    backoff.type === 'fixed'
      ? backoff.delay
      : Math.min(
          // capped exponent: 0 * 2 ** 1100 would be NaN
          backoff.delay * 2 ** Math.min(Math.max(0, attemptsMade - 1), 64),
          backoff.maxDelay ?? Number.MAX_SAFE_INTEGER,
        );
  const jitter = backoff.jitter ?? 0;
  return Math.round(nominal * (1 - jitter * random()));
}
