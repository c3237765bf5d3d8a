import { pino, type Logger } from 'pino';
import { InvalidOptionsError } from './errors.js';
import { describeValue } from './job/options.js';

export type { Logger } from 'pino';

/**
 * The library's default logger: pino at `warn` (only what needs attention),
 * overridable with STREAMJOBS_LOG_LEVEL (the test suite sets `silent`). Pass
 * your own pino logger as the `logger` option to route it with your app's logs.
 */
export function defaultLogger(name: string): Logger {
  return pino({ name, level: process.env.STREAMJOBS_LOG_LEVEL ?? 'warn' });
}

/** The level methods the library calls on a logger (pino's signature: an object, then a message). */
const LOGGER_METHODS = ['error', 'warn', 'info', 'debug'] as const;

/**
 * The `logger` option, checked when it is given (a wrong one would otherwise
 * fail only when the library first logs, in the middle of handling a fault),
 * or the default logger.
 */
export function resolveLogger(logger: unknown, name: string): Logger {
  if (logger === undefined) return defaultLogger(name);
  const methods = logger as Record<string, unknown> | null;
  if (typeof methods !== 'object' || methods === null || LOGGER_METHODS.some((method) => typeof methods[method] !== 'function')) {
    throw new InvalidOptionsError('logger', `must be a pino logger, or an object with ${LOGGER_METHODS.join(', ')} methods (got ${describeValue(logger)})`);
  }
  return logger as Logger;
}
