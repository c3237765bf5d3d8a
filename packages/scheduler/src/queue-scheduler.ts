import {
  promoteDue,
  type QueueContext,
  type Logger,
} from '@streamjobs/core';
import type { Leadership } from './leadership.js';

export interface RunOnceResult {
  /** Jobs moved from the delayed set into their streams. */
  promoted: number;
  /** Milliseconds until there is something to do again. */
  idleMs: number;
}

/**
 * The scheduler work of one queue, done only while this instance leads it:
 * promote due delayed jobs and retries into their tier streams.
 *
 * Guarantees: a due job is promoted once (the promote script removes it from
 * the delayed set and adds it to its stream atomically, and only for the
 * current term's lock value). It starts at most `pollIntervalMs` after its due
 * time while a leader runs. It does not promise anything while no instance
 * leads: due jobs then wait until one does.
 */
export class QueueScheduler {
  constructor(
    private readonly ctx: QueueContext,
    private readonly leadership: Leadership,
    private readonly options: { pollIntervalMs: number; batchSize: number },
    private readonly logger: Logger,
  ) {}

  async runOnce(): Promise<RunOnceResult> {
    const now = Date.now();
    if (!this.leadership.isLeader) return { promoted: 0, idleMs: this.leadership.msUntilNextClaim(now) };
    let promoted = 0;
    for (;;) {
      const result = await promoteDue(this.ctx, this.leadership.value!, this.options.batchSize);
      if (result.promoted < 0) {
        this.logger.warn({ queue: this.ctx.keys.queue }, 'leader term ended; promotion fenced off');
        this.leadership.markLost();
        return { promoted, idleMs: 0 };
      }
      promoted += result.promoted;
      if (result.promoted < this.options.batchSize) {
        const untilDue = result.nextDueAt === undefined ? Infinity : result.nextDueAt - result.now;
        const idleMs = Math.min(this.options.pollIntervalMs, untilDue, this.leadership.msUntilNextClaim());
        return { promoted, idleMs: Math.max(0, idleMs) };
      }
    }
  }
}
