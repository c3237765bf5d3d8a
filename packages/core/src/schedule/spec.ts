import { CronExpressionParser } from 'cron-parser';
import { InvalidOptionsError } from '../errors.js';
import { describeValue, nonNegativeInteger, positiveInteger } from '../job/options.js';

/** What to do with occurrences that passed while no scheduler leader ran. */
export type CatchUpPolicy = 'all' | 'latest' | 'none';
/** Whether an occurrence may start while the previous run of its schedule is unfinished. */
export type OverlapPolicy = 'allow' | 'skip' | 'buffer';

export interface ScheduleSpec {
  /** Cron expression, 5 fields (minute first) or 6 (seconds first). Exclusive with `every`. */
  cron?: string;
  /** IANA time zone of `cron`. Default UTC. */
  tz?: string;
  /** Fixed interval in ms. Exclusive with `cron`. */
  every?: number;
  /** No occurrence before this instant. For `every`, the first occurrence is here. */
  startAt?: Date | number;
  /** No occurrence after this instant. */
  endAt?: Date | number;
  /** At most this many runs in all; then the schedule ends. */
  limit?: number;
  /** Default `all`. */
  catchUp?: CatchUpPolicy;
  /** Most runs one catch-up makes; older missed occurrences are counted as missed. Default 100. */
  maxCatchUp?: number;
  /** Default `allow`. */
  overlap?: OverlapPolicy;
}

/** A spec once checked, with defaults, in the form stored in Redis. */
export interface NormalizedSpec {
  cron?: string;
  tz?: string;
  every?: number;
  startAt?: number;
  endAt?: number;
  limit?: number;
  catchUp: CatchUpPolicy;
  maxCatchUp: number;
  overlap: OverlapPolicy;
}

export const DEFAULT_MAX_CATCH_UP = 100;
/** maxCatchUp may not exceed what one leader round enumerates (ROUND_CHUNK). */
const MAX_CATCH_UP_BOUND = 10_000;
const SPEC_KEYS = new Set(['cron', 'tz', 'every', 'startAt', 'endAt', 'limit', 'catchUp', 'maxCatchUp', 'overlap']);

/** Checks a schedule spec; throws `InvalidOptionsError` naming what is wrong. */
export function normalizeSpec(spec: unknown): NormalizedSpec {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new InvalidOptionsError('spec', 'must be an object with cron or every');
  }
  for (const key of Object.keys(spec)) {
    if (!SPEC_KEYS.has(key)) throw new InvalidOptionsError(`spec.${key}`, 'is not a schedule option');
  }
  const s = spec as ScheduleSpec;
  if ((s.cron === undefined) === (s.every === undefined)) {
    throw new InvalidOptionsError('spec', 'give exactly one of cron or every');
  }
  const normalized: NormalizedSpec = {
    catchUp: oneOf('spec.catchUp', s.catchUp ?? 'all', ['all', 'latest', 'none']),
    maxCatchUp: s.maxCatchUp === undefined ? DEFAULT_MAX_CATCH_UP : validateMaxCatchUp(s.maxCatchUp),
    overlap: oneOf('spec.overlap', s.overlap ?? 'allow', ['allow', 'skip', 'buffer']),
  };
  if (s.every !== undefined) {
    if (s.tz !== undefined) throw new InvalidOptionsError('spec.tz', 'applies to cron schedules only');
    normalized.every = positiveInteger('spec.every', s.every);
  } else {
    normalized.tz = validateTimeZone(s.tz ?? 'UTC');
    normalized.cron = validateCron(s.cron, normalized.tz);
  }
  if (s.startAt !== undefined) normalized.startAt = instant('spec.startAt', s.startAt);
  if (s.endAt !== undefined) normalized.endAt = instant('spec.endAt', s.endAt);
  if (normalized.startAt !== undefined && normalized.endAt !== undefined && normalized.endAt < normalized.startAt) {
    throw new InvalidOptionsError('spec.endAt', 'must not be before startAt');
  }
  if (s.limit !== undefined) normalized.limit = positiveInteger('spec.limit', s.limit);
  return normalized;
}

function validateMaxCatchUp(value: unknown): number {
  const max = nonNegativeInteger('spec.maxCatchUp', value);
  if (max > MAX_CATCH_UP_BOUND) throw new InvalidOptionsError('spec.maxCatchUp', `must be at most ${MAX_CATCH_UP_BOUND}`);
  return max;
}

function oneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new InvalidOptionsError(option, `must be one of ${allowed.join(', ')} (got ${describeValue(value)})`);
}

function instant(option: string, value: unknown): number {
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new InvalidOptionsError(option, 'must be a valid Date or epoch milliseconds');
  }
  return Math.round(ms);
}

/** cron-parser reports an unknown zone as "Invalid Date"; we name the zone. */
function validateTimeZone(tz: unknown): string {
  if (typeof tz !== 'string' || tz.length === 0) throw new InvalidOptionsError('spec.tz', 'must be an IANA time zone name');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new InvalidOptionsError('spec.tz', `unknown time zone ${JSON.stringify(tz)} (use an IANA name such as "Europe/Berlin")`);
  }
  return tz;
}

function validateCron(cron: unknown, tz: string): string {
  if (typeof cron !== 'string' || cron.trim().length === 0) {
    throw new InvalidOptionsError('spec.cron', 'must be a cron expression string');
  }
  const fields = cron.trim().split(/\s+/);
  if (!cron.trim().startsWith('@') && (fields.length < 5 || fields.length > 6)) {
    throw new InvalidOptionsError('spec.cron', `must have 5 fields, or 6 with seconds first (got ${fields.length}: ${JSON.stringify(cron)})`);
  }
  try {
    const expression = CronExpressionParser.parse(cron, { tz, strict: false });
    expression.next();
  } catch (err) {
    throw new InvalidOptionsError('spec.cron', `${JSON.stringify(cron)} is not a valid cron expression: ${(err as Error).message}`);
  }
  return cron.trim();
}
