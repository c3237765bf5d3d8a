import { performance } from 'node:perf_hooks';
import type { Job, ReclaimResult } from '@streamjobs/core';
import type { Worker } from '@streamjobs/worker';
import { listen } from './listen.js';
import type { MetricSet } from './metric-set.js';

/** How an attempt ended, as the worker's event of the same name says. */
const OUTCOMES = ['completed', 'retrying', 'failed', 'canceled', 'lost'] as const;
const RECLAIM_RESULTS = ['requeued', 'failed', 'unreadable'] as const;

/**
 * Feeds one worker's events into the metrics: the wait time of a job when
 * its first attempt starts, the run time and outcome of every attempt when it
 * ends, and the jobs it reclaimed. Run times use this process's monotonic
 * clock; wait times use the job's Redis timestamps (one clock, whichever
 * process added the job). Returns a function that stops listening.
 */
export function watchWorker(worker: Worker, metrics: MetricSet): () => void {
  const queue = worker.name;
  /** Job id → when its attempt started here (performance.now()). */
  const started = new Map<string, number>();

  const onActive = (job: Job) => {
    started.set(job.id, performance.now());
    // later attempts (retries, reclaims) have no creation or due time to count from
    if (job.attemptsMade === 0 && job.stalls === 0 && job.startedAt !== undefined) {
      const since = job.dueAt ?? job.createdAt;
      metrics.waitSeconds.observe({ queue, tier: job.priority }, Math.max(0, job.startedAt - since) / 1000);
    }
  };
  const onEnd = (outcome: (typeof OUTCOMES)[number]) => (job: Job) => {
    const labels = { queue, tier: job.priority, outcome };
    metrics.attempts.inc(labels);
    const start = started.get(job.id);
    if (start === undefined) return; // failed without running: it stalled too often
    started.delete(job.id);
    metrics.runSeconds.observe(labels, (performance.now() - start) / 1000);
  };
  const onReclaimed = (result: ReclaimResult) => {
    for (const kind of RECLAIM_RESULTS) {
      if (result[kind] > 0) metrics.reclaimed.inc({ queue, result: kind }, result[kind]);
    }
  };

  const stops = [
    listen(worker, 'active', onActive),
    ...OUTCOMES.map((outcome) => listen(worker, outcome, onEnd(outcome))),
    listen(worker, 'reclaimed', onReclaimed),
    listen(worker, 'closed', () => started.clear()),
  ];
  return () => {
    for (const stop of stops) stop();
    started.clear();
  };
}
