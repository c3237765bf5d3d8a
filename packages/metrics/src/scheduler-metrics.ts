import type { Scheduler } from '@streamjobs/scheduler';
import { listen } from './listen.js';
import type { MetricSet } from './metric-set.js';

/**
 * Feeds one scheduler's leadership changes into the metrics: the leader gauge
 * of each queue it takes part in, and the count of changes. Returns a
 * function that stops listening.
 */
export function watchScheduler(scheduler: Scheduler, metrics: MetricSet): () => void {
  const change = (value: 0 | 1, kind: 'elected' | 'lost') => ({ queue }: { queue: string }) => {
    metrics.leader.set({ queue }, value);
    metrics.leaderChanges.inc({ queue, change: kind });
  };
  const stops = [listen(scheduler, 'leader:elected', change(1, 'elected')), listen(scheduler, 'leader:lost', change(0, 'lost'))];
  return () => {
    for (const stop of stops) stop();
  };
}
