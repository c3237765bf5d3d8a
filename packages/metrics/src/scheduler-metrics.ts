import type { Scheduler } from '@streamjobs/scheduler';
import { listen } from './listen.js';
import type { MetricSet } from './metric-set.js';

export interface LeadershipWatch {
  /** The queues this scheduler has led, each with whether it leads it now (false once lost or resigned). */
  leading(): [queue: string, leads: boolean][];
  stop(): void;
}

/** Counts one scheduler's leadership changes, and remembers the queues it led for the leader gauge. */
export function watchScheduler(scheduler: Scheduler, metrics: MetricSet): LeadershipWatch {
  const led = new Set<string>();
  const change = (kind: 'elected' | 'lost') => ({ queue }: { queue: string }) => {
    led.add(queue);
    metrics.leaderChanges.inc({ queue, change: kind });
  };
  const stops = [listen(scheduler, 'leader:elected', change('elected')), listen(scheduler, 'leader:lost', change('lost'))];
  return {
    leading: () => [...led].map((queue) => [queue, scheduler.isLeader(queue)]),
    stop() {
      for (const stop of stops) stop();
    },
  };
}
