import { InvalidOptionsError } from './errors.js';

/** The consumer group every worker of a queue reads its tier streams through. */
export const CONSUMER_GROUP = 'workers';

/**
 * The one place key names are built. Every key of a queue carries the queue's
 * hash tag `{name}`, so a queue lives in one Redis Cluster slot and every Lua
 * script touching it is atomic there. Scripts that must build a key from data
 * (a job's hash from its id, a lane from its tier) get `base` and append the
 * same suffixes this class does.
 */
export class QueueKeys {
  /** `prefix:{queue}:` — the common start of every key of this queue. */
  readonly base: string;

  constructor(
    readonly prefix: string,
    readonly queue: string,
  ) {
    validateKeyPart('prefix', prefix);
    validateKeyPart('queue name', queue);
    this.base = `${prefix}:{${queue}}:`;
  }

  /** Stream of one priority tier; 0 is the highest. */
  lane(tier: number): string {
    return `${this.base}lane:${tier}`;
  }

  lanes(tierCount: number): string[] {
    return Array.from({ length: tierCount }, (_, tier) => this.lane(tier));
  }

  job(id: string): string {
    return `${this.base}job:${id}`;
  }

  /**
   * A worker's wake-up stream: its idle blocking read also waits on it, and
   * while it exists the claim sent behind that read claims nothing (closing).
   */
  wake(consumer: string): string {
    return `${this.base}wake:${consumer}`;
  }

  /** A job's checkpoint hash: `state` (the last checkpoint) and `step:<name>` results. */
  checkpoint(id: string): string {
    return `${this.base}checkpoint:${id}`;
  }

  /** Hash of queue-wide settings every process must agree on (the tiers). */
  get meta(): string {
    return `${this.base}meta`;
  }

  /** Sorted set of delayed jobs and jobs waiting for a retry, by due time. */
  get delayed(): string {
    return `${this.base}delayed`;
  }

  /** List of retained completed job ids in finish order, oldest first (a list, not a sorted set: ~10 bytes per job, not ~100). */
  get completed(): string {
    return `${this.base}completed`;
  }

  /** Exists while someone reads the events stream: only then are `job:completed` events written. */
  get listeners(): string {
    return `${this.base}listeners`;
  }

  /** Exists while the queue is paused: workers start no job. */
  get paused(): string {
    return `${this.base}paused`;
  }

  /** Dead-letter sorted set: failed jobs and unreadable entries, by time. */
  get dead(): string {
    return `${this.base}dead`;
  }

  /** Capped stream of job events, readable from any process. */
  get events(): string {
    return `${this.base}events`;
  }

  /** Pub/sub channel of cancel notices for running jobs (hash-tagged for sharded pub/sub). */
  get cancelChannel(): string {
    return `${this.base}cancel`;
  }

  /** Sorted set of retained canceled jobs, by cancel time. */
  get canceled(): string {
    return `${this.base}canceled`;
  }

  /** Hash of one repeat schedule: spec, template, next/last run, counters. */
  schedule(id: string): string {
    return `${this.base}schedule:${id}`;
  }

  /** Sorted set of active schedules by the nominal time of their next occurrence. */
  get schedulesDue(): string {
    return `${this.base}schedules:due`;
  }

  /** Set of every schedule id of the queue (paused and ended ones too). */
  get scheduleIds(): string {
    return `${this.base}schedules:ids`;
  }

  /** Set of schedules with occurrences held back by `overlap: 'buffer'`. */
  get bufferedSchedules(): string {
    return `${this.base}schedules:buffered`;
  }

  /** When a scheduler leader last ran a round (server ms): tells live occurrences from missed ones. */
  get leaderSeen(): string {
    return `${this.base}leader:seen`;
  }

  /**
   * Pub/sub channel (hash-tagged, sharded on a cluster) that tells the
   * scheduler leader of work due sooner than it knew: the due time in server
   * ms, or `release` when a held-back (buffer) occurrence may start.
   */
  get dueChannel(): string {
    return `${this.base}due`;
  }

  /** Pub/sub channel on which a resigning leader tells the followers to claim at once. */
  get leaderChannel(): string {
    return `${this.base}leader`;
  }

  /** Scheduler leader lock: `<instance>:<token>`, with a TTL. */
  get leader(): string {
    return `${this.base}leader`;
  }

  /** Counter the fencing tokens of leader terms are taken from. */
  get fence(): string {
    return `${this.base}fence`;
  }
}

/**
 * Braces would change the hash tag and let one queue's keys land in another's
 * slot; empty parts make ambiguous names. Everything else (colons, spaces,
 * unicode) is allowed, because the part is always bracketed by fixed separators.
 */
function validateKeyPart(what: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidOptionsError(what, 'must be a non-empty string');
  }
  if (/[{}]/.test(value)) {
    throw new InvalidOptionsError(what, `must not contain "{" or "}" (got ${JSON.stringify(value)})`);
  }
  if (value.length > 200) {
    throw new InvalidOptionsError(what, 'must be at most 200 characters');
  }
  assertWellFormed(what, value);
}

/**
 * A lone UTF-16 surrogate is sent to Redis as U+FFFD, so two different names
 * or ids holding one would share a key: they are refused.
 */
export function assertWellFormed(what: string, value: string): void {
  if (/\p{Cs}/u.test(value)) {
    throw new InvalidOptionsError(what, `must be well-formed Unicode (got a lone surrogate in ${JSON.stringify(value)})`);
  }
}
