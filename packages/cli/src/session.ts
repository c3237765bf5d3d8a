import {
  DEFAULT_MAX_EVENTS,
  Queue,
  RedisConnection,
  listQueues,
  queueExists,
  serverTime,
  type QueueContext,
} from '@streamjobs/core';
import { CliError } from './errors.js';

/** Where and how the CLI reaches Redis: the global options. */
export interface Target {
  /** Redis URL. */
  redis: string;
  /** Key prefix of the queues. */
  prefix: string;
  /** How long to wait for Redis before giving up (ms). */
  timeoutMs: number;
}

/** One queue as the commands use it: its `Queue` and a context for the inspection functions. */
export interface OpenQueue {
  queue: Queue;
  ctx: QueueContext;
}

/**
 * One run of the CLI against one Redis: a connection of its own (for
 * listing and inspecting) and a `Queue` while a command works on a queue. A CLI run is
 * short and interactive, so Redis is not waited for: no reconnection, and a
 * short connect timeout.
 */
export class Session {
  private constructor(
    readonly target: Target,
    readonly connection: RedisConnection,
  ) {}

  /** Connects, or fails with a message naming the URL (without its password). */
  static async open(target: Target): Promise<Session> {
    let connection: RedisConnection;
    try {
      connection = RedisConnection.create(clientOptions(target), target.timeoutMs, 'streamjobs:cli');
    } catch (err) {
      throw new CliError(`invalid Redis URL ${redact(target.redis)}: ${(err as Error).message}`);
    }
    try {
      await connection.ready();
    } catch (err) {
      connection.close();
      const why = ((err as Error).cause as Error | undefined)?.message;
      throw new CliError(`cannot reach Redis at ${redact(target.redis)} within ${target.timeoutMs} ms${why ? `: ${why}` : ''}`);
    }
    return new Session(target, connection);
  }

  /** Queue names under the prefix, sorted. */
  queueNames(): Promise<string[]> {
    return listQueues(this.connection, this.target.prefix);
  }

  /**
   * Runs `use` with a queue that exists, closing the queue after; fails with
   * a `CliError` naming the queues there are. Creates nothing in Redis.
   */
  async withQueue<T>(name: string, use: (open: OpenQueue) => Promise<T>): Promise<T> {
    const queue = new Queue(name, {
      connection: clientOptions(this.target),
      prefix: this.target.prefix,
      connectTimeout: this.target.timeoutMs,
    });
    try {
      if (!(await queueExists(this.connection, queue.keys))) throw new CliError(await this.unknownQueue(name));
      const tiers = await queue.getTiers();
      return await use({ queue, ctx: { connection: this.connection, keys: queue.keys, tiers, maxEvents: DEFAULT_MAX_EVENTS } });
    } finally {
      await queue.close();
    }
  }

  now(): Promise<number> {
    return serverTime(this.connection);
  }

  close(): void {
    this.connection.close();
  }

  private async unknownQueue(name: string): Promise<string> {
    const known = await this.queueNames();
    const where = `under prefix "${this.target.prefix}"`;
    if (known.length === 0) return `queue "${name}" not found: there are no queues ${where}`;
    const shown = known.length > 10 ? `${known.slice(0, 10).join(', ')}, … (${known.length} in all)` : known.join(', ');
    return `queue "${name}" not found ${where}; queues there: ${shown}`;
  }
}

function clientOptions(target: Target) {
  return { url: target.redis, socket: { connectTimeout: target.timeoutMs, reconnectStrategy: false as const } };
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
