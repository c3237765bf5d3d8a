import type { JobState } from '@streamjobs/core';
import { UsageError } from '../errors.js';
import type { Session } from '../session.js';

/** Every job state, in the order tables and counts show them. */
export const JOB_STATES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'canceled'] as const satisfies readonly JobState[];

/** What a command hands back: the data (printed as JSON with `--json`) and its text form. */
export interface Output {
  data: unknown;
  text: string;
  /** Set when part of the request could not be done: printed on stderr after the output, exit code 1. */
  failure?: string;
}

/** A command's arguments once parsed: positionals after the command name, and option values. */
export interface Input {
  positionals: string[];
  options: Record<string, string | boolean | undefined>;
}

/**
 * One command: `parse` checks its command line (a `UsageError` when wrong)
 * before anything connects to Redis, `run` does the work.
 */
export interface Command<Args = any> {
  name: string;
  /** Positional arguments as shown in the usage, e.g. `<queue> <id...>`. */
  usage: string;
  summary: string;
  /** Options of this command besides the global ones, as shown in the usage. */
  options?: Record<string, string>;
  parse(input: Input): Args;
  run(session: Session, args: Args): Promise<Output>;
}

/** A command taking just `<queue>`. */
export function queueOnly(input: Input): { queue: string } {
  const queue = positional(input, 0, 'queue');
  noMorePositionals(input, 1);
  return { queue };
}

/** The positional at `index`, or a usage error naming it. */
export function positional(input: Input, index: number, name: string): string {
  const value = input.positionals[index];
  if (value === undefined || value === '') throw new UsageError(`missing <${name}>`);
  return value;
}

/** Fails on positionals beyond the first `count`. */
export function noMorePositionals(input: Input, count: number): void {
  const extra = input.positionals.slice(count);
  if (extra.length > 0) throw new UsageError(`unexpected argument${extra.length > 1 ? 's' : ''}: ${extra.join(' ')}`);
}

/** A whole-number option within bounds, or its default. */
export function integerOption(input: Input, name: string, fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
  const raw = input.options[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || value < min || value > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  }
  return value;
}

/** A string option, if given. */
export function stringOption(input: Input, name: string): string | undefined {
  const value = input.options[name];
  return typeof value === 'string' ? value : undefined;
}
