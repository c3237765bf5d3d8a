import type { RedisConnection } from './connection.js';
import { toRecord } from './job/codec.js';

/** Event names written to a queue's events stream. */
export type QueueEventName =
  | 'job:completed'
  | 'job:failed'
  | 'job:retrying'
  | 'job:stalled'
  | 'job:handed-back'
  | 'job:dead-lettered'
  | 'job:retried'
  | 'job:canceled'
  | 'job:discarded'
  | 'job:progress';

/** One entry of the events stream. */
export interface QueueEvent {
  /** Stream entry id: pass it back to read what came after. */
  id: string;
  name: QueueEventName;
  jobId: string;
  /** Further fields of the event (error, reason, attemptsMade...). */
  fields: Record<string, string>;
}

/** How long a reader's interest in `job:completed` events lasts after its last read (ms). */
export const EVENT_INTEREST_TTL_MS = 5 * 60_000;
/** A reader renews its interest at most this often (ms). */
const EVENT_INTEREST_RENEW_MS = 60_000;

/**
 * A process's interest in a queue's events. `job:completed` is the one event
 * written for every job, so the settle script writes it only while the
 * queue's `listeners` key exists; each reader keeps that key alive while it
 * reads (one write a minute at most), and it expires a few minutes after the
 * last reader stopped.
 */
export class EventInterest {
  private renewAt = 0;

  constructor(
    private readonly connection: RedisConnection,
    private readonly key: string,
  ) {}

  async renew(): Promise<void> {
    const now = Date.now();
    if (now < this.renewAt) return;
    await this.connection.call(['SET', this.key, '1', 'PX', EVENT_INTEREST_TTL_MS]);
    this.renewAt = now + EVENT_INTEREST_RENEW_MS;
  }
}

export const FINAL_EVENTS: ReadonlySet<QueueEventName> = new Set(['job:completed', 'job:failed', 'job:canceled']);

export function parseEvents(reply: unknown): QueueEvent[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((entry: unknown[]) => {
    const { e, j, ...fields } = toRecord(entry[1] as unknown[]);
    return { id: String(entry[0]), name: e as QueueEventName, jobId: j ?? '', fields };
  });
}

/** Reads up to `count` events after `afterId`, waiting up to `blockMs` when there are none. */
export async function readEvents(
  connection: RedisConnection,
  stream: string,
  afterId: string,
  count: number,
  blockMs?: number,
): Promise<QueueEvent[]> {
  const block = blockMs === undefined ? [] : ['BLOCK', blockMs];
  const reply = await connection.call<unknown[] | null>(['XREAD', 'COUNT', count, ...block, 'STREAMS', stream, afterId]);
  const first = reply?.[0] as unknown[] | undefined;
  return first ? parseEvents(first[1]) : [];
}

/** Id of the newest event, or `0-0` when the stream is empty. */
export async function lastEventId(connection: RedisConnection, stream: string): Promise<string> {
  const reply = await connection.call<unknown[][]>(['XREVRANGE', stream, '+', '-', 'COUNT', 1]);
  return reply[0] ? String(reply[0][0]) : '0-0';
}

/**
 * The newest final event of `jobId` among the last `scan` events, if any: how
 * `waitFor` learns the outcome of a job that finished and was removed (by its
 * retention) before it looked.
 */
export async function recentFinalEvent(
  connection: RedisConnection,
  stream: string,
  jobId: string,
  scan = 1_000,
): Promise<QueueEvent | undefined> {
  const events = parseEvents(await connection.call(['XREVRANGE', stream, '+', '-', 'COUNT', scan]));
  return events.find((event) => event.jobId === jobId && FINAL_EVENTS.has(event.name));
}
