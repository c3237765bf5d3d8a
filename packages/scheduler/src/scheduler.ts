import { EventEmitter } from 'node:events';
import { nanoid } from 'nanoid';
import {
  DEFAULT_MAX_EVENTS,
  DEFAULT_PREFIX,
  InvalidOptionsError,
  QueueKeys,
  RedisConnection,
  WakeableSleep,
  assertOptionKeys,
  positiveDuration,
  positiveInteger,
  resolveLogger,
  type ConnectionOptions,
  type Logger,
} from '@streamjobs/core';
import { Leadership } from './leadership.js';
import { QueueScheduler } from './queue-scheduler.js';

export interface SchedulerOptions {
  /** node-redis client options (`{ url }`), or a client you own. */
  connection: ConnectionOptions;
  /** Queues this instance takes part in the leadership of. */
  queues: string[];
  /** Key prefix; must match the queues'. Default `sj`. */
  prefix?: string;
  /** Lifetime of a leader's term unless renewed (ms). Default 5,000. */
  lockTtl?: number;
  /** Longest wait between two promotion rounds of the leader (ms). Default 200. */
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

interface QueueLoop {
  queue: string;
  leadership: Leadership;
  scheduler: QueueScheduler;
  sleep: WakeableSleep;
  done: Promise<void>;
}

/**
 * Takes part in the scheduler leadership of each of its queues, and does the
 * leader's work for the queues it leads. Run any number of instances (every
 * Worker embeds one unless told not to): per queue exactly one leads at a
 * time, and another takes over within `lockTtl` when it dies. `close()`
 * resigns at once so a successor need not wait for the lock to expire.
 */
export class Scheduler extends EventEmitter<SchedulerEvents> {
  readonly instanceId = nanoid(10);
  private readonly connection: RedisConnection;
  private readonly logger: Logger;
  private readonly loops: QueueLoop[];
  /** Short enough that one failed round cannot cost the leader its term. */
  private readonly retryAfterErrorMs: number;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(options: SchedulerOptions) {
    super();
    assertOptionKeys(options, OPTION_KEYS, 'Scheduler');
    if (!Array.isArray(options.queues) || options.queues.length === 0) {
      throw new InvalidOptionsError('queues', 'must be a non-empty array of queue names');
    }
    if (options.connection === undefined) throw new InvalidOptionsError('connection', 'is required');
    const lockTtl = options.lockTtl === undefined ? 5_000 : positiveDuration('lockTtl', options.lockTtl);
    const pollIntervalMs = options.pollInterval === undefined ? 200 : positiveDuration('pollInterval', options.pollInterval);
    this.retryAfterErrorMs = Math.min(1_000, Math.floor(lockTtl / 4));
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    const keysOf = options.queues.map((queue) => new QueueKeys(prefix, queue));
    this.logger = resolveLogger(options.logger, 'streamjobs:scheduler');
    const connectTimeout =
      options.connectTimeout === undefined ? undefined : positiveInteger('connectTimeout', options.connectTimeout);
    this.connection = RedisConnection.create(options.connection, connectTimeout);
    this.loops = keysOf.map((keys) => {
      const leadership = new Leadership(this.connection, keys, this.instanceId, lockTtl);
      const ctx = { connection: this.connection, keys, tiers: [], maxEvents: DEFAULT_MAX_EVENTS };
      const loop: QueueLoop = {
        queue: keys.queue,
        leadership,
        scheduler: new QueueScheduler(ctx, leadership, { pollIntervalMs, batchSize: 1_000, lockTtlMs: lockTtl }, this.logger),
        sleep: new WakeableSleep(),
        done: Promise.resolve(),
      };
      loop.done = this.run(loop);
      return loop;
    });
  }

  /** Whether this instance currently leads `queue`. */
  isLeader(queue: string): boolean {
    return this.loops.some((loop) => loop.queue === queue && loop.leadership.isLeader);
  }

  private async run(loop: QueueLoop): Promise<void> {
    await Promise.resolve(); // let the constructor finish before the first round
    while (!this.closed) {
      let idleMs = this.retryAfterErrorMs;
      try {
        const change = await loop.leadership.tick();
        if (change === 'elected') this.emit('leader:elected', { queue: loop.queue, term: loop.leadership.value! });
        if (change === 'lost') this.emit('leader:lost', { queue: loop.queue });
        const wasLeader = loop.leadership.isLeader;
        const result = await loop.scheduler.runOnce();
        if (wasLeader && !loop.leadership.isLeader) this.emit('leader:lost', { queue: loop.queue });
        if (result.promoted > 0) this.emit('jobs:promoted', { queue: loop.queue, count: result.promoted });
        if (result.error) throw result.error;
        const s = result.schedules;
        if (s && s.created + s.missed + s.skipped + s.released > 0) {
          this.emit('schedules:materialised', { queue: loop.queue, created: s.created, missed: s.missed, skipped: s.skipped, released: s.released });
        }
        idleMs = result.idleMs;
      } catch (err) {
        if (this.closed) break;
        this.reportError(err as Error);
      }
      await loop.sleep.sleep(idleMs);
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
    this.closed = true;
    for (const loop of this.loops) loop.sleep.wake();
    await Promise.all(this.loops.map((loop) => loop.done));
    await Promise.all(
      this.loops.map((loop) =>
        loop.leadership.resign().catch((err: unknown) => this.logger.warn({ err }, 'resigning failed')),
      ),
    );
    this.connection.close();
  }
}
