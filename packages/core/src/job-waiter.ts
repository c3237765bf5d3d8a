import type { Logger } from 'pino';
import type { RedisConnection } from './connection.js';
import { ClosedError } from './errors.js';
import { FINAL_EVENTS, lastEventId, readEvents, type EventInterest, type QueueEvent } from './events.js';

type Listener = (event: QueueEvent) => void;

/**
 * Follows a queue's events stream on a connection of its own (a blocking read
 * holds its connection) while anybody waits, and tells each waiter when its
 * job reaches a final state. Starts reading from the newest event before the
 * first waiter registers, so an event written after a waiter checked the job's
 * state is never missed.
 */
export class JobWaiter {
  private readonly listeners = new Map<string, Set<Listener>>();
  private connection: RedisConnection | undefined;
  private started: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly commands: RedisConnection,
    private readonly stream: string,
    private readonly interest: EventInterest,
    private readonly logger: Logger,
  ) {}

  /**
   * Resolves with the job's next final event, or undefined on timeout. Call
   * `cancel` when the wait is no longer needed.
   */
  async register(jobId: string, timeoutMs: number): Promise<{ event: Promise<QueueEvent | undefined>; cancel: () => void }> {
    if (this.closed) throw new ClosedError('Queue');
    await this.interest.renew(); // before the caller checks the job: its completion is then announced
    await this.start();
    let listener!: Listener;
    let timer!: NodeJS.Timeout;
    const cancel = () => {
      clearTimeout(timer);
      const set = this.listeners.get(jobId);
      set?.delete(listener);
      if (set?.size === 0) this.listeners.delete(jobId);
    };
    const event = new Promise<QueueEvent | undefined>((resolve) => {
      listener = (e) => {
        cancel();
        resolve(e);
      };
      timer = setTimeout(() => {
        cancel();
        resolve(undefined);
      }, timeoutMs);
      const set = this.listeners.get(jobId) ?? new Set();
      set.add(listener);
      this.listeners.set(jobId, set);
    });
    return { event, cancel };
  }

  private start(): Promise<void> {
    this.started ??= (async () => {
      this.connection = this.commands.duplicate();
      const from = await lastEventId(this.commands, this.stream);
      void this.follow(from);
    })();
    return this.started;
  }

  private async follow(from: string): Promise<void> {
    let after = from;
    while (!this.closed) {
      try {
        if (this.listeners.size > 0) await this.interest.renew();
        const events = await readEvents(this.connection!, this.stream, after, 500, 1_000);
        for (const event of events) {
          after = event.id;
          if (!FINAL_EVENTS.has(event.name)) continue;
          for (const listener of [...(this.listeners.get(event.jobId) ?? [])]) listener(event);
        }
      } catch (err) {
        if (this.closed) return;
        this.logger.warn({ err }, 'reading the events stream failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  close(): void {
    this.closed = true;
    this.connection?.close();
  }
}
