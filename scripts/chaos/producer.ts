import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectionError, type Queue } from '@streamjobs/core';
import type { PlannedJob } from './plan.js';

export interface CancelAnswer {
  canceled: boolean;
  /** When `cancel()` resolved (epoch ms). */
  at: number;
}

const BATCH = 500;
/** Consecutive failed attempts at one batch before the run gives up. */
const MAX_ADD_FAILURES = 50;

/**
 * Adds the planned jobs on time (in batches of what is due), and cancels the
 * cancel targets once their add is acknowledged. Only an add that resolved
 * counts as acknowledged: that is what the run checks nothing is lost of. A
 * batch that failed with a connection error is sent again (the job ids make
 * it idempotent).
 */
export class Producer {
  /** Jobs whose add resolved, by id. */
  readonly acked = new Map<string, PlannedJob>();
  /** What `cancel()` answered (true: this call canceled the job), and when it did, by id. */
  readonly cancelAnswers = new Map<string, CancelAnswer>();
  addRetries = 0;

  constructor(private readonly queue: Queue) {}

  /** Adds everything in `plan` (sorted by `addAt`), `addAt` ms after `startedAt`; resolves once every cancel is answered. */
  async run(plan: readonly PlannedJob[], startedAt: number): Promise<void> {
    const cancels: Promise<void>[] = [];
    let next = 0;
    while (next < plan.length) {
      const elapsed = Date.now() - startedAt;
      let end = next;
      while (end < plan.length && end - next < BATCH && plan[end]!.addAt <= elapsed) end++;
      if (end === next) {
        await sleep(Math.max(1, Math.min(50, plan[next]!.addAt - elapsed)));
        continue;
      }
      const batch = plan.slice(next, end);
      await this.add(batch);
      for (const job of batch) {
        this.acked.set(job.id, job);
        if (job.cancelAfter !== undefined) cancels.push(this.cancelLater(job.id, job.cancelAfter));
      }
      next = end;
    }
    await Promise.all(cancels);
  }

  private async add(batch: readonly PlannedJob[]): Promise<void> {
    for (let failures = 0; ; failures++) {
      try {
        await this.queue.addBulk(batch.map((job) => ({ name: job.kind, data: job.data, opts: job.opts })));
        return;
      } catch (err) {
        if (!(err instanceof ConnectionError) || failures >= MAX_ADD_FAILURES) throw err;
        this.addRetries++;
        await sleep(100);
      }
    }
  }

  private async cancelLater(id: string, afterMs: number): Promise<void> {
    await sleep(afterMs);
    const canceled = await this.queue.cancel(id, { reason: 'chaos', by: 'chaos' });
    this.cancelAnswers.set(id, { canceled, at: Date.now() });
  }
}
