import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { InvalidOptionsError } from '@streamjobs/core';

/** Seconds: from a few milliseconds (a busy queue) to an hour (a backlog). */
export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/**
 * The metrics one `collectMetrics` call registers. Gauges read on scrape get
 * their `collect` callbacks from the caller; everything else is fed by events.
 */
export interface MetricSet {
  jobs: Gauge<'queue' | 'state'>;
  waitingJobs: Gauge<'queue' | 'tier'>;
  runningJobs: Gauge<'queue'>;
  waitSeconds: Histogram<'queue' | 'tier'>;
  runSeconds: Histogram<'queue' | 'tier' | 'outcome'>;
  attempts: Counter<'queue' | 'tier' | 'outcome'>;
  reclaimed: Counter<'queue' | 'result'>;
  leader: Gauge<'queue'>;
  leaderChanges: Counter<'queue' | 'change'>;
}

export interface MetricSetOptions {
  registry: Registry;
  prefix: string;
  buckets: number[];
  /** Fills the gauges read on scrape. */
  collectJobs: (gauge: MetricSet['jobs']) => Promise<void>;
  collectWaiting: (gauge: MetricSet['waitingJobs']) => Promise<void>;
  collectRunning: (gauge: MetricSet['runningJobs']) => void;
  collectLeaders: (gauge: MetricSet['leader']) => void;
}

/** Registers the metrics; `names` lists them, for removing them again. */
export function createMetricSet(options: MetricSetOptions): { metrics: MetricSet; names: string[] } {
  const { buckets } = options;
  const registers = [options.registry];
  const names: string[] = [];
  const named = (suffix: string) => {
    const name = options.prefix + suffix;
    if (options.registry.getSingleMetric(name)) {
      for (const created of names) options.registry.removeSingleMetric(created);
      throw new InvalidOptionsError('prefix', `the registry already has a metric ${name}: give each collectMetrics its own prefix or registry`);
    }
    names.push(name);
    return name;
  };
  const metrics: MetricSet = {
    jobs: new Gauge({
      name: named('jobs'),
      help: 'Jobs of the queue per state (queue-wide, read from Redis on each scrape)',
      labelNames: ['queue', 'state'],
      registers,
      collect() {
        return options.collectJobs(this);
      },
    }),
    waitingJobs: new Gauge({
      name: named('waiting_jobs'),
      help: 'Waiting jobs of the queue per priority tier (queue-wide, read from Redis on each scrape)',
      labelNames: ['queue', 'tier'],
      registers,
      collect() {
        return options.collectWaiting(this);
      },
    }),
    runningJobs: new Gauge({
      name: named('worker_running_jobs'),
      help: "Jobs this process's workers hold now (running, or finished and not yet recorded)",
      labelNames: ['queue'],
      registers,
      collect() {
        options.collectRunning(this);
      },
    }),
    waitSeconds: new Histogram({
      name: named('job_wait_seconds'),
      help: "Seconds from a job's creation (or due time, when delayed) to the start of its first attempt",
      labelNames: ['queue', 'tier'],
      buckets,
      registers,
    }),
    runSeconds: new Histogram({
      name: named('job_run_seconds'),
      help: 'Seconds an attempt ran in this process, from its start to its recorded outcome',
      labelNames: ['queue', 'tier', 'outcome'],
      buckets,
      registers,
    }),
    attempts: new Counter({
      name: named('attempts_total'),
      help: 'Attempts this process finished, by outcome: completed, retrying, failed, canceled, lost',
      labelNames: ['queue', 'tier', 'outcome'],
      registers,
    }),
    reclaimed: new Counter({
      name: named('reclaimed_jobs_total'),
      help: 'Jobs of dead or stalled workers this process reclaimed: requeued, failed (stalled too often), unreadable',
      labelNames: ['queue', 'result'],
      registers,
    }),
    leader: new Gauge({
      name: named('scheduler_leader'),
      help: 'Whether a scheduler of this process leads the queue now (1) or led it before (0)',
      labelNames: ['queue'],
      registers,
      collect() {
        options.collectLeaders(this);
      },
    }),
    leaderChanges: new Counter({
      name: named('leader_changes_total'),
      help: 'Scheduler leadership changes seen by this process: elected, lost',
      labelNames: ['queue', 'change'],
      registers,
    }),
  };
  return { metrics, names };
}
