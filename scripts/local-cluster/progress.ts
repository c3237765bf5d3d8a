import type { JobCounts, Queue, RedisConnection } from '@streamjobs/core';
import type { RecordKeys } from './config.js';
import { TICK } from './jobs.js';

/** The cluster at a glance: the queue's counts and the records kept by its processes. */
export interface ClusterProgress {
  counts: JobCounts;
  /** Jobs the producer added. */
  added: number;
  /** Occurrences of the repeat schedule queued so far. */
  scheduled: number;
  /** Jobs some worker saw completed. */
  completed: number;
  /** Handler starts beyond the first of their job: jobs handed back by a closing worker and run again. */
  reruns: number;
  /** Jobs completed more than once: must stay 0. */
  completedTwice: number;
}

export async function readProgress(queue: Queue, records: RedisConnection, keys: RecordKeys): Promise<ClusterProgress> {
  const [counts, schedule, added, completed, reruns, completedTwice] = await Promise.all([
    queue.counts(),
    queue.getSchedule(TICK.id),
    records.call<number>(['HLEN', keys.added]),
    records.call<number>(['HLEN', keys.completed]),
    records.call<string | null>(['GET', keys.reruns]),
    records.call<string | null>(['GET', keys.completedTwice]),
  ]);
  return { counts, added, scheduled: schedule?.runs ?? 0, completed, reruns: Number(reruns ?? 0), completedTwice: Number(completedTwice ?? 0) };
}

export function formatProgress(progress: ClusterProgress, workers: number, elapsedMs: number): string {
  const { counts } = progress;
  return [
    `[${(elapsedMs / 1000).toFixed(0).padStart(4)}s] workers ${workers}`,
    `added ${progress.added} + ${progress.scheduled} scheduled`,
    `completed ${progress.completed}`,
    `waiting ${counts.waiting}`,
    `active ${counts.active}`,
    `delayed ${counts.delayed}`,
    `failed ${counts.failed}`,
    `re-run after hand-back ${progress.reruns}`,
    `completed twice ${progress.completedTwice}`,
  ].join(' · ');
}
