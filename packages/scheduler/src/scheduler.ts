import { EventEmitter } from 'node:events';
import { nanoid } from 'nanoid';
import {
  DEFAULT_MAX_EVENTS,
  DEFAULT_PREFIX,
  InvalidOptionsError,
  QueueKeys,
  RedisConnection,
  assertOptionKeys,
  positiveDuration,
  positiveInteger,
  resolveLogger,
  type ConnectionOptions,
  type Logger,
} from '@streamjobs/core';
import { QueueLoop } from './queue-loop.js';
import type { RunOnceResult } from './queue-scheduler.js';

export interface SchedulerOptions {
  /** node-redis client options (`{ url }`), or a client you own. */
  connection: ConnectionOptions;
  /** Queues this instance takes part in the leadership of. */
  queues: string[];
  /** Key prefix; must match the queues'. Default `sj`. */
  prefix?: string;
  /** Lifetime of a leader's term unless renewed (ms). Default 5,000. */
  lockTtl?: number;
  /**
   * Longest a leader sleeps between two rounds (ms). It wakes whenever
   * something falls due, and is told of new work; this only bounds how late a
   * notice it missed can make a job. Default 60,000.
   */
  pollInterval?: number;
  logger?: Logger;
  /** How long a call waits for Redis before failing (ms). Default 5,000. */
  connectTimeout?: number;
}

export interface SchedulerEvents {
  'leader:elected': [{ queue: string; term: string }];
  'leader:lost': [{ queue: string }];
  'jobs:promoted': [{ queue: string; count: number }];
  /** Occurrences of repeat schedules were materialised, passed over or skipped. */
  'schedules:materialised': [{ queue: string; created: number; missed: number; skipped: number; released: number }];
  error: [Error];
}

const OPTION_KEYS = new Set(['connection', 'queues', 'prefix', 'lockTtl', 'pollInterval', 'logger', 'connectTimeout']);

/** The default longest sleep of a leader between rounds (ms). */
export const DEFAULT_POLL_INTERVAL_MS = 60_000;

/**
 * Takes part in the scheduler leadership of each of its queues, and does the
 * leader's work for the queues it leads, waking only when something is due
 * (see QueueLoop). Run any number of instances (every Worker embeds one
 * unless told not to): per queue exactly one leads at a time, and another
 * takes over within `lockTtl` when it dies. `close()` resigns at once so a
 * successor need not wait for the lock to expire.
 *
 * Connections: this process's shared command and notice connections (the
 * ones its Queues and Workers with the same connection options use too).
 */
export class Scheduler extends EventEmitter<SchedulerEvents> {
  readonly instanceId = nanoid(10);
  private readonly connection: RedisConnection;
  private readonly notices: RedisConnection;
  private readonly logger: Logger;
  private readonly loops: QueueLoop[];
  private closing: Promise<void> | undefined;

  constructor(options: SchedulerOptions) {
    super();
    assertOptionKeys(options, OPTION_KEYS, 'Scheduler');
    if (!Array.isArray(options.queues) || options.queues.length === 0) {
      throw new InvalidOptionsError('queues', 'must be a non-empty array of queue names');
    }
    if (options.connection === undefined) throw new InvalidOptionsError('connection', 'is required');
    const lockTtlMs = options.lockTtl === undefined ? 5_000 : positiveDuration('lockTtl', options.lockTtl);
    const pollIntervalMs =
      options.pollInterval === undefined ? DEFAULT_POLL_INTERVAL_MS : positiveDuration('pollInterval', options.pollInterval);
    // short enough that one failed round cannot cost the leader its term
    const retryAfterErrorMs = Math.min(1_000, Math.floor(lockTtlMs / 4));
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    const keysOf = options.queues.map((queue) => new QueueKeys(prefix, queue));
    this.logger = resolveLogger(options.logger, 'streamjobs:scheduler');
    const connectTimeout =
      options.connectTimeout === undefined ? undefined : positiveInteger('connectTimeout', options.connectTimeout);
    this.connection = RedisConnection.shared(options.connection, connectTimeout);
    this.notices = RedisConnection.shared(options.connection, connectTimeout, 'notices');
    this.loops = keysOf.map((keys) => {
      const ctx = { connection: this.connection, keys, tiers: [], maxEvents: DEFAULT_MAX_EVENTS };
      const queue = keys.queue;
      const loop = new QueueLoop(
        ctx,
        this.notices,
        { instanceId: this.instanceId, lockTtlMs, pollIntervalMs, retryAfterErrorMs },
        {
          elected: (term) => this.emit('leader:elected', { queue, term }),
          lost: () => this.emit('leader:lost', { queue }),
          round: (result) => this.reportRound(queue, result),
          error: (err) => this.reportError(err),
        },
        this.logger,
      );
      loop.start();
      return loop;
    });
    this.notices.onReconnect(() => {
      for (const loop of this.loops) loop.reconnected();
    });
  }

  /** Whether this instance currently leads `queue`. */
  isLeader(queue: string): boolean {
    return this.loops.some((loop) => loop.queue === queue && loop.leadership.isLeader);
  }

  private reportRound(queue: string, result: RunOnceResult): void {
    if (result.promoted > 0) this.emit('jobs:promoted', { queue, count: result.promoted });
    const s = result.schedules;
    const released = s?.released ?? result.released;
    if ((s && s.created + s.missed + s.skipped > 0) || released > 0) {
      this.emit('schedules:materialised', { queue, created: s?.created ?? 0, missed: s?.missed ?? 0, skipped: s?.skipped ?? 0, released });
    }
  }

  private reportError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.logger.warn({ err }, 'scheduler round failed; retrying');
  }

  /** Stops, resigning every leadership held. Idempotent: every call resolves once all is given up. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    await Promise.all(
      this.loops.map((loop) => loop.stop().catch((err: unknown) => this.logger.warn({ err }, 'resigning failed'))),
    );
    this.notices.close();
    this.connection.close();
  }
}
