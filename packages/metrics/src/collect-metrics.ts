import { register as globalRegistry, type Registry } from 'prom-client';
import { InvalidOptionsError, assertOptionKeys, type Queue } from '@streamjobs/core';
import type { Scheduler } from '@streamjobs/scheduler';
import type { Worker } from '@streamjobs/worker';
import { DEFAULT_BUCKETS, createMetricSet } from './metric-set.js';
import { QueueCounts } from './queue-counts.js';
import { watchScheduler, type LeadershipWatch } from './scheduler-metrics.js';
import { watchWorker } from './worker-metrics.js';

export interface MetricsOptions {
  /** Where the metrics are registered. Default: prom-client's global registry. */
  registry?: Registry;
  /**
   * Queues whose jobs are counted per state and per tier, with one `counts()`
   * call each per scrape. The counts are queue-wide: every process that
   * collects a queue reports the same numbers (aggregate with `max`).
   */
  queues?: Queue[];
  /**
   * Workers whose attempts are timed and counted, and whose embedded
   * schedulers' leadership changes are counted. Per process: sum over
   * processes.
   */
  workers?: Worker[];
  /** Standalone schedulers whose leadership changes are counted. */
  schedulers?: Scheduler[];
  /** Start of every metric name. Default `streamjobs_`. */
  prefix?: string;
  /** Buckets (seconds) of the wait and run time histograms. */
  buckets?: number[];
}

export interface StreamJobsMetrics {
  /** Stops listening to the workers and schedulers and removes the metrics from the registry. Idempotent. */
  close(): void;
}

const OPTION_KEYS = new Set(['registry', 'queues', 'workers', 'schedulers', 'prefix', 'buckets']);
const STATES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'canceled'] as const;

/**
 * Prometheus metrics of streamjobs, registered in a prom-client registry.
 * Nothing is measured on a job's path beyond the listeners this adds to the
 * workers' and schedulers' events; queue counts are read on scrape.
 *
 * - `streamjobs_jobs{queue,state}`, `streamjobs_waiting_jobs{queue,tier}`:
 *   queue-wide gauges, read from Redis on each scrape;
 * - `streamjobs_worker_running_jobs{queue}`: jobs this process's workers hold;
 * - `streamjobs_job_wait_seconds{queue,tier}`: creation (or due time) to the
 *   start of the first attempt;
 * - `streamjobs_job_run_seconds{queue,tier,outcome}` and
 *   `streamjobs_attempts_total{queue,tier,outcome}`: attempts ended in this
 *   process, by outcome (completed, retrying, failed, canceled, lost);
 * - `streamjobs_reclaimed_jobs_total{queue,result}`: jobs of dead or stalled
 *   workers reclaimed by this process;
 * - `streamjobs_scheduler_leader{queue}`, `streamjobs_leader_changes_total{queue,change}`:
 *   scheduler leadership held now (1; 0 once lost or resigned) and changed in
 *   this process.
 */
export function collectMetrics(options: MetricsOptions = {}): StreamJobsMetrics {
  assertOptionKeys(options, OPTION_KEYS, 'collectMetrics');
  const queues = arrayOption('queues', options.queues);
  const workers = arrayOption('workers', options.workers);
  const registry = options.registry ?? globalRegistry;
  const prefix = options.prefix ?? 'streamjobs_';
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
    throw new InvalidOptionsError('prefix', 'must be a valid start of a Prometheus metric name');
  }
  const buckets = bucketsOption(options.buckets);
  // a worker's embedded scheduler counts like a standalone one
  const embedded = workers.flatMap((worker) => (worker.scheduler ? [worker.scheduler] : []));
  const schedulers = [...new Set([...arrayOption('schedulers', options.schedulers), ...embedded])];

  const counts = new QueueCounts(queues);
  const leaderships: LeadershipWatch[] = []; // read on scrape, filled once the metrics exist
  const { metrics, names } = createMetricSet({
    registry,
    prefix,
    buckets,
    async collectJobs(gauge) {
      const snapshot = await counts.snapshot();
      gauge.reset();
      for (const [queue, counted] of snapshot) {
        for (const state of STATES) gauge.set({ queue: queue.name, state }, counted[state]);
      }
    },
    async collectWaiting(gauge) {
      const snapshot = await counts.snapshot();
      gauge.reset();
      for (const [queue, counted] of snapshot) {
        for (const [tier, waiting] of Object.entries(counted.waitingByTier)) gauge.set({ queue: queue.name, tier }, waiting);
      }
    },
    collectRunning(gauge) {
      gauge.reset();
      for (const worker of workers) gauge.inc({ queue: worker.name }, worker.activeCount);
    },
    collectLeaders(gauge) {
      gauge.reset();
      for (const watch of leaderships) {
        for (const [queue, leads] of watch.leading()) gauge.inc({ queue }, leads ? 1 : 0);
      }
    },
  });
  leaderships.push(...schedulers.map((scheduler) => watchScheduler(scheduler, metrics)));
  const stops = [...workers.map((worker) => watchWorker(worker, metrics)), ...leaderships.map((watch) => () => watch.stop())];

  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      for (const stop of stops) stop();
      for (const name of names) registry.removeSingleMetric(name);
    },
  };
}

function arrayOption<T>(name: string, value: T[] | undefined): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new InvalidOptionsError(name, 'must be an array');
  return value;
}

function bucketsOption(value: number[] | undefined): number[] {
  if (value === undefined) return DEFAULT_BUCKETS;
  const valid =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((bound, i) => typeof bound === 'number' && bound > 0 && Number.isFinite(bound) && (i === 0 || bound > value[i - 1]!));
  if (!valid) throw new InvalidOptionsError('buckets', 'must be a non-empty, increasing array of positive numbers (seconds)');
  return value;
}
