import { RedisConnection } from '@streamjobs/core';
import type { RecordKeys } from './config.js';

/**
 * Writes the cluster's records (see RecordKeys) without holding up the job
 * that caused them; `close()` waits for the writes in flight, so a process
 * that closes its worker and then its recorder leaves every count written.
 */
export class Recorder {
  private readonly connection: RedisConnection;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    connection: { url: string },
    private readonly keys: RecordKeys,
  ) {
    this.connection = RedisConnection.create(connection);
  }

  added(jobId: string, kind: string): void {
    this.track(this.connection.call(['HSET', this.keys.added, jobId, kind]));
  }

  /** A handler started the job; a start after its first is also counted in `reruns`. */
  ran(jobId: string): void {
    this.track(this.countOnce(this.keys.runs, this.keys.reruns, jobId));
  }

  /** A worker saw the job completed; a second completion is counted in `completedTwice`. */
  completed(jobId: string): void {
    this.track(this.countOnce(this.keys.completed, this.keys.completedTwice, jobId));
  }

  async close(): Promise<void> {
    await Promise.all(this.pending);
    this.connection.close();
  }

  private async countOnce(perJob: string, beyondFirst: string, jobId: string): Promise<void> {
    const times = await this.connection.call<number>(['HINCRBY', perJob, jobId, 1]);
    if (times > 1) await this.connection.call(['INCR', beyondFirst]);
  }

  private track(write: Promise<unknown>): void {
    const tracked = write.then(
      () => undefined,
      (err: Error) => console.error(`record not written: ${err.message}`),
    );
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }
}
