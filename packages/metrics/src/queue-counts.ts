import type { JobCounts, Queue } from '@streamjobs/core';

/**
 * Reads the job counts of the queues on scrape: one `counts()` call per queue,
 * shared by the gauges that show them (prom-client collects all metrics of a
 * scrape at once). A queue that cannot be counted (Redis away, queue closed)
 * is left out of that scrape and logged with the queue's logger: an absent
 * series, rather than a stale one or a failed scrape.
 */
export class QueueCounts {
  private reading: Promise<[Queue, JobCounts][]> | undefined;

  constructor(private readonly queues: readonly Queue[]) {}

  snapshot(): Promise<[Queue, JobCounts][]> {
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async read(): Promise<[Queue, JobCounts][]> {
    const counted = await Promise.all(
      this.queues.map(async (queue): Promise<[Queue, JobCounts] | undefined> => {
        try {
          return [queue, await queue.counts()];
        } catch (err) {
          queue.logger.warn({ err, queue: queue.name }, 'metrics: could not count the jobs of the queue');
          return undefined;
        }
      }),
    );
    return counted.filter((entry) => entry !== undefined);
  }
}
