import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * The library's default logger: pino at `warn` (only what needs attention),
 * overridable with STREAMJOBS_LOG_LEVEL (the test suite sets `silent`). Pass
 * your own pino logger as the `logger` option to route it with your app's logs.
 */
export function defaultLogger(name: string): Logger {
  return pino({ name, level: process.env.STREAMJOBS_LOG_LEVEL ?? 'warn' });
}
