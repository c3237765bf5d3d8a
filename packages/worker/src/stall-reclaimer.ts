import { reclaimRound, type QueueContext, type ReclaimResult } from '@streamjobs/core';
import { PeriodicService } from './periodic-service.js';

/** Entries claimed per XAUTOCLAIM call, and calls per tier per round: a round looks at up to 5,000 pending entries a tier. */
const CLAIM_COUNT = 100;
const CALLS_PER_ROUND = 5;
/** Idle consumers are forgotten every this many rounds. */
const CLEAN_CONSUMERS_EVERY = 10;
/** The pause between two rounds of one walk over a long pending list (ms). */
const WALK_PAUSE_MS = 50;

/**
 * Gives the jobs of dead or stalled workers back to the queue. Every worker
 * runs one; the reclaim script is atomic, so two reclaimers never requeue the
 * same entry twice. An entry is reclaimed once it has been idle (no delivery,
 * no heartbeat) for `stallTimeout`, i.e. its worker died or its event loop
 * stalled that long. A job that stalls more than `maxStalls` times is failed
 * for good by the next worker that fetches it, without running, so a job that
 * kills its process every time cannot loop forever.
 *
 * Each round walks on from where the last one stopped, so however many
 * entries are pending (of live workers too), every one is looked at. Rounds
 * come every half `stallTimeout`; with nothing pending at all, the next comes
 * after a whole `stallTimeout`: no entry can go stale sooner.
 */
export class StallReclaimer extends PeriodicService {
  private cursors: string[] | undefined;
  private rounds = 0;
  private nothingPending = false;

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
    const round = await reclaimRound(this.ctx, this.consumer, {
      minIdleMs: this.options.stallTimeout,
      count: CLAIM_COUNT,
      maxStalls: this.options.maxStalls,
      cleanConsumers: this.rounds++ % CLEAN_CONSUMERS_EVERY === 0,
      maxCalls: CALLS_PER_ROUND,
      ...(this.cursors ? { cursors: this.cursors } : {}),
    });
    this.cursors = round.cursors;
    this.nothingPending = round.pending === 0;
    const { result } = round;
    if (result.requeued + result.failed + result.unreadable > 0) this.onReclaimed(result);
    return result;
  }

  protected override nextDelayMs(): number {
    if (this.cursors?.some((cursor) => cursor !== '0-0')) return WALK_PAUSE_MS;
    return this.nothingPending ? this.options.stallTimeout : this.intervalMs;
  }
}
