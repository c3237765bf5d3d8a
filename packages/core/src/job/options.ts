import { InvalidOptionsError } from '../errors.js';
import { assertWellFormed } from '../keys.js';
import type { BackoffOptions, JobOptions, RetentionOptions, StoredJobOptions } from './types.js';

export const DEFAULT_TIERS: readonly string[] = ['critical', 'high', 'normal', 'low'];
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
const MAX_ATTEMPTS = 1_000_000;
const MAX_ID_LENGTH = 512;
/** The longest timer Node keeps (about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const JOB_OPTION_KEYS = new Set([
  'priority',
  'delay',
  'runAt',
  'jobId',
  'attempts',
  'backoff',
  'timeout',
  'removeOnComplete',
  'removeOnFail',
]);

/** A job's options once checked: where it goes, when, and what is stored with it. */
export interface ResolvedJobOptions {
  jobId?: string;
  tier: number;
  /** Absolute due time in ms (from `runAt`), or undefined. */
  runAt?: number;
  /** Relative delay in ms (from `delay`), 0 when none. */
  delay: number;
  stored: StoredJobOptions;
}

/** Checks a tier list: 1 to 16 distinct, non-empty names. */
export function validateTiers(tiers: unknown): string[] {
  if (!Array.isArray(tiers) || tiers.length === 0 || tiers.length > 16) {
    throw new InvalidOptionsError('tiers', 'must be an array of 1 to 16 tier names, highest first');
  }
  for (const tier of tiers) {
    if (typeof tier !== 'string' || tier.length === 0) {
      throw new InvalidOptionsError('tiers', 'every tier name must be a non-empty string');
    }
  }
  if (new Set(tiers).size !== tiers.length) throw new InvalidOptionsError('tiers', 'tier names must be distinct');
  return [...tiers];
}

/** Resolves a tier name or index to an index. */
export function resolveTier(priority: unknown, tiers: readonly string[], option = 'priority'): number {
  if (typeof priority === 'number') {
    if (Number.isInteger(priority) && priority >= 0 && priority < tiers.length) return priority;
    throw new InvalidOptionsError(option, `tier index must be an integer from 0 to ${tiers.length - 1} (got ${priority})`);
  }
  if (typeof priority === 'string') {
    const index = tiers.indexOf(priority);
    if (index >= 0) return index;
    throw new InvalidOptionsError(option, `unknown tier ${JSON.stringify(priority)}; tiers are ${tiers.join(', ')}`);
  }
  throw new InvalidOptionsError(option, 'must be a tier name or index');
}

/**
 * Validates `opts` over `defaults` and resolves what the scripts need. Throws
 * `InvalidOptionsError` naming the first bad option; never partially applies.
 */
export function resolveJobOptions(
  opts: JobOptions | undefined,
  defaults: JobOptions,
  tiers: readonly string[],
  defaultTier: number,
): ResolvedJobOptions {
  if (opts !== undefined && (typeof opts !== 'object' || opts === null || Array.isArray(opts))) {
    throw new InvalidOptionsError('opts', 'must be an object');
  }
  for (const key of Object.keys(opts ?? {})) {
    if (!JOB_OPTION_KEYS.has(key)) throw new InvalidOptionsError(key, 'is not a job option');
  }
  const merged: JobOptions = { ...defaults, ...stripUndefined(opts ?? {}) };
  if (merged.delay !== undefined && merged.runAt !== undefined) {
    throw new InvalidOptionsError('delay', 'give either delay or runAt, not both');
  }
  const stored: StoredJobOptions = { attempts: validateAttempts(merged.attempts) };
  if (merged.backoff !== undefined) stored.backoff = validateBackoff(merged.backoff);
  if (merged.timeout !== undefined) stored.timeout = validateTimeout(merged.timeout);
  if (merged.removeOnComplete !== undefined) {
    stored.removeOnComplete = validateRetention('removeOnComplete', merged.removeOnComplete);
  }
  if (merged.removeOnFail !== undefined) stored.removeOnFail = validateRetention('removeOnFail', merged.removeOnFail);
  const resolved: ResolvedJobOptions = {
    tier: merged.priority === undefined ? defaultTier : resolveTier(merged.priority, tiers),
    delay: merged.delay === undefined ? 0 : validateDelay(merged.delay),
    stored,
  };
  if (merged.runAt !== undefined) resolved.runAt = validateRunAt(merged.runAt);
  if (merged.jobId !== undefined) resolved.jobId = validateNewJobId(merged.jobId);
  return resolved;
}

/**
 * Dead-lettered stream entries get job records of their own, id
 * `dead:<tier>:<entry id>`; a job added under such an id could be overwritten
 * by one, so new jobs may not take them.
 */
function validateNewJobId(jobId: unknown): string {
  const id = validateJobId(jobId);
  if (id.startsWith('dead:')) throw new InvalidOptionsError('jobId', `must not start with "dead:" (kept for dead-lettered entries; got ${JSON.stringify(id)})`);
  return id;
}

export function validateJobId(jobId: unknown): string {
  if (typeof jobId !== 'string' || jobId.length === 0 || jobId.length > MAX_ID_LENGTH) {
    throw new InvalidOptionsError('jobId', `must be a string of 1 to ${MAX_ID_LENGTH} characters`);
  }
  assertWellFormed('jobId', jobId);
  return jobId;
}

export function validateJobName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_ID_LENGTH) {
    throw new InvalidOptionsError('name', `must be a string of 1 to ${MAX_ID_LENGTH} characters`);
  }
  return name;
}

/** A job's timeout is a timer in the worker. */
function validateTimeout(timeout: unknown): number {
  return positiveDuration('timeout', timeout);
}

function validateAttempts(attempts: unknown): number {
  if (attempts === undefined) return 1;
  if (typeof attempts !== 'number' || !Number.isInteger(attempts) || attempts < 1 || attempts > MAX_ATTEMPTS) {
    throw new InvalidOptionsError('attempts', `must be an integer from 1 to ${MAX_ATTEMPTS}`);
  }
  return attempts;
}

function validateBackoff(backoff: unknown): Exclude<BackoffOptions, number> {
  if (typeof backoff === 'number') return { type: 'fixed', delay: nonNegativeNumber('backoff', backoff) };
  if (typeof backoff !== 'object' || backoff === null) {
    throw new InvalidOptionsError('backoff', 'must be a delay in ms or { type, delay, jitter? }');
  }
  const { type, delay, jitter, maxDelay, ...rest } = backoff as Record<string, unknown>;
  const unknownKey = Object.keys(rest)[0];
  if (unknownKey !== undefined) throw new InvalidOptionsError(`backoff.${unknownKey}`, 'is not a backoff option');
  if (type !== 'fixed' && type !== 'exponential') {
    throw new InvalidOptionsError('backoff.type', 'must be "fixed" or "exponential"');
  }
  const result: Record<string, unknown> = { type, delay: nonNegativeNumber('backoff.delay', delay) };
  if (jitter !== undefined) {
    if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) {
      throw new InvalidOptionsError('backoff.jitter', 'must be a number from 0 to 1');
    }
    result.jitter = jitter;
  }
  if (maxDelay !== undefined) {
    if (type !== 'exponential') throw new InvalidOptionsError('backoff.maxDelay', 'applies to exponential backoff only');
    result.maxDelay = nonNegativeNumber('backoff.maxDelay', maxDelay);
  }
  return result as Exclude<BackoffOptions, number>;
}

export function validateRetention(option: string, retention: unknown): RetentionOptions {
  if (typeof retention === 'boolean') return retention;
  if (typeof retention === 'number') return nonNegativeInteger(option, retention);
  if (typeof retention === 'object' && retention !== null && !Array.isArray(retention)) {
    const { age, count, ...rest } = retention as Record<string, unknown>;
    const unknownKey = Object.keys(rest)[0];
    if (unknownKey !== undefined) throw new InvalidOptionsError(`${option}.${unknownKey}`, 'is not a retention option');
    if (age === undefined && count === undefined) throw new InvalidOptionsError(option, 'give age, count or both');
    const result: { age?: number; count?: number } = {};
    if (age !== undefined) result.age = nonNegativeInteger(`${option}.age`, age);
    if (count !== undefined) result.count = nonNegativeInteger(`${option}.count`, count);
    return result;
  }
  throw new InvalidOptionsError(option, 'must be a boolean, a count, or { age?, count? }');
}

/**
 * The latest instant a Date can hold. Due times stay below it, so they are
 * exact integers in Lua and in the scripts' replies (1e300 would not be).
 */
const MAX_DATE_MS = 8.64e15;

function validateRunAt(runAt: unknown): number {
  const ms = runAt instanceof Date ? runAt.getTime() : runAt;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_DATE_MS) {
    throw new InvalidOptionsError('runAt', 'must be a valid Date or epoch milliseconds');
  }
  return Math.round(ms);
}

function validateDelay(delay: unknown): number {
  const ms = nonNegativeNumber('delay', delay);
  if (ms > MAX_DATE_MS) throw new InvalidOptionsError('delay', `must be at most ${MAX_DATE_MS} ms`);
  return ms;
}

export function nonNegativeNumber(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionsError(option, `must be a finite number >= 0 (got ${describeValue(value)})`);
  }
  return Math.round(value);
}

export function nonNegativeInteger(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidOptionsError(option, `must be an integer >= 0 (got ${describeValue(value)})`);
  }
  return value;
}

export function positiveInteger(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionsError(option, `must be an integer > 0 (got ${describeValue(value)})`);
  }
  return value;
}

/**
 * A duration in ms that a timer waits out: Node fires a timer of more than
 * 2^31 - 1 ms after 1 ms instead (a close would abort its jobs at once, a
 * heartbeat would run every millisecond), so longer ones are refused.
 */
export function positiveDuration(option: string, value: unknown): number {
  const ms = positiveInteger(option, value);
  if (ms > MAX_TIMER_MS) throw new InvalidOptionsError(option, `must be at most ${MAX_TIMER_MS} ms (about 24.8 days; got ${ms})`);
  return ms;
}

/**
 * A bad value, for an error message. `String()` itself throws on symbols and
 * objects without a prototype: the error must still be the one we mean.
 */
export function describeValue(value: unknown): string {
  try {
    return typeof value === 'string' ? JSON.stringify(value) : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Rejects misspelt options at construction instead of ignoring them. */
export function assertOptionKeys(options: unknown, allowed: ReadonlySet<string>, what: string): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionsError('options', `${what} options must be an object`);
  }
  for (const key of Object.keys(options)) {
    if (!allowed.has(key)) throw new InvalidOptionsError(key, `is not a ${what} option`);
  }
}

/** Options that name one job (its id, its due time) make no sense as defaults for all. */
export function validateDefaultJobOptions(defaults: unknown): JobOptions {
  if (defaults === undefined) return {};
  if (typeof defaults !== 'object' || defaults === null) {
    throw new InvalidOptionsError('defaultJobOptions', 'must be an object');
  }
  for (const key of ['jobId', 'delay', 'runAt']) {
    if (key in defaults) throw new InvalidOptionsError(`defaultJobOptions.${key}`, 'is per job, not a queue default');
  }
  return defaults as JobOptions;
}
