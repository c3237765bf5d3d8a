import { reclaimStalled, type QueueContext, type ReclaimResult } from '@streamjobs/core';
import { PeriodicService } from './periodic-service.js';

/**
 * Gives the jobs of dead or stalled workers back to the queue. Every worker
 * runs one; the reclaim script is atomic, so two reclaimers never requeue the
 * same entry twice. An entry is reclaimed once it has been idle (no delivery,
 * no heartbeat) for `stallTimeout`, i.e. its worker died or its event loop
 * stalled that long. A job that stalls more than `maxStalls` times is failed
 * for good by the next worker that fetches it, without running, so a job that
 * kills its process every time cannot loop forever.
 */
export class StallReclaimer extends PeriodicService {
  constructor(
    private readonly ctx: QueueContext,
    private readonly consumer: string,
    private readonly options: { stallTimeout: number; maxStalls: number },
    private readonly onReclaimed: (result: ReclaimResult) => void,
    intervalMs: number,
    onError: (err: Error) => void,
  ) {
    super(intervalMs, onError);
  }

  async runOnce(): Promise<ReclaimResult> {
    const result = await reclaimStalled(this.ctx, this.consumer, {
      minIdleMs: this.options.stallTimeout,
      count: 100,
      maxStalls: this.options.maxStalls,
    });
    if (result.requeued + result.failed + result.unreadable > 0) this.onReclaimed(result);
    return result;
  }
}
