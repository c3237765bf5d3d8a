import { JobCanceledError, heartbeat, type QueueContext } from '@streamjobs/core';
import { PeriodicService } from './periodic-service.js';
import type { RunningJobs } from './running-jobs.js';

/**
 * Keeps the stream entries of this worker's running jobs fresh, so other
 * workers' reclaim (XAUTOCLAIM after `stallTimeout` idle) never takes a job
 * from a live worker, and learns which jobs it has lost (reclaimed while it
 * was stalled): those are fenced off at once and their signals aborted.
 * It also learns which were canceled, so a running job's signal aborts within
 * one interval of its cancellation even when the notice was missed.
 *
 * It guarantees freshness only while the event loop runs: a handler that
 * blocks the loop longer than `stallTimeout` loses its job, by design.
 */
export class HeartbeatService extends PeriodicService {
  constructor(
    private readonly ctx: QueueContext,
    private readonly consumer: string,
    private readonly running: RunningJobs,
    intervalMs: number,
    onError: (err: Error) => void,
  ) {
    super(intervalMs, onError);
  }

  async runOnce(): Promise<{ refreshed: number; lost: number; canceled: number }> {
    const held = this.running.owned();
    const { lost, canceled } = await heartbeat(this.ctx, this.consumer, held);
    for (const id of lost) this.running.markLost(id);
    // the backstop for cancel notices missed on the subscriber connection
    for (const notice of canceled) this.running.markCanceled(notice.id, new JobCanceledError(notice.reason, notice.by));
    return { refreshed: held.length - lost.length - canceled.length, lost: lost.length, canceled: canceled.length };
  }
}
