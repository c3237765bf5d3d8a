import { JobCanceledError, type CancelNotice, type Logger, type RedisConnection } from '@streamjobs/core';
import type { RunningJobs } from './running-jobs.js';

/**
 * Aborts running jobs promptly when they are canceled from any process: the
 * cancel script publishes a notice on the queue's cancel channel, and this
 * listener, on a connection of its own, aborts the job's signal if this
 * worker runs it. Notices published while the connection is down are lost;
 * the heartbeat is the backstop (it reads the canceled flag of every job it
 * holds), so a job still aborts within one heartbeat interval.
 */
export class CancelListener {
  /**
   * Notices for jobs this worker did not (yet) hold: a notice can overtake the
   * fetch reply that hands us the job, as they travel on different connections.
   */
  private readonly unmatched = new Map<string, { notice: CancelNotice; at: number }>();

  constructor(
    private readonly subscriber: RedisConnection,
    private readonly channel: string,
    private readonly running: RunningJobs,
    private readonly logger: Logger,
  ) {}

  start(): Promise<void> {
    return this.subscriber.subscribe(this.channel, (message) => this.onNotice(message));
  }

  private onNotice(message: string): void {
    let notice: CancelNotice;
    try {
      notice = JSON.parse(message) as CancelNotice;
    } catch (err) {
      this.logger.warn({ err, message }, 'unreadable cancel notice ignored');
      return;
    }
    if (this.running.get(notice.id)) this.apply(notice);
    else this.remember(notice);
  }

  /** Applies a notice that arrived before the job did. Call when a job starts. */
  catchUp(jobId: string): void {
    const seen = this.unmatched.get(jobId);
    if (!seen) return;
    this.unmatched.delete(jobId);
    this.apply(seen.notice);
  }

  private apply(notice: CancelNotice): void {
    this.running.markCanceled(notice.id, new JobCanceledError(notice.reason ?? '', notice.by ?? ''));
  }

  private remember(notice: CancelNotice): void {
    const now = Date.now();
    this.unmatched.set(notice.id, { notice, at: now });
    // a fetch reply is milliseconds behind; keep a few seconds' worth, bounded
    for (const [id, { at }] of this.unmatched) {
      if (now - at < 5_000 && this.unmatched.size <= 10_000) break;
      this.unmatched.delete(id);
    }
  }

  stop(): void {
    this.subscriber.close();
  }
}
