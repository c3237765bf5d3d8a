/**
 * The `worker` service (docker-compose.yml; `pnpm cluster` runs it too): runs
 * the cluster's jobs, 8 at a time by default, until SIGTERM or SIGINT, then
 * closes gracefully (running jobs finish or are handed back).
 *
 * It runs no scheduler (`scheduler: false`): the `scheduler` service does
 * that, so scaling workers up and down (even to zero) never moves the
 * leadership, and delayed jobs, retries and schedule occurrences keep being
 * queued while no worker runs.
 */
import { Worker } from '@streamjobs/worker';
import { QUEUE, WORKER_CLOSE_TIMEOUT_MS, clusterConfig } from './local-cluster/config.js';
import { runClusterJob } from './local-cluster/jobs.js';
import { closeOnSignals, log, summarise } from './local-cluster/lifecycle.js';
import { Recorder } from './local-cluster/records.js';

const config = clusterConfig();
const recorder = new Recorder(config.connection, config.records);
const worker = new Worker(
  QUEUE,
  async (job, ctx) => {
    recorder.ran(job.id);
    return runClusterJob(job, ctx);
  },
  {
    connection: config.connection,
    prefix: config.prefix,
    concurrency: config.workerConcurrency,
    closeTimeout: WORKER_CLOSE_TIMEOUT_MS,
    scheduler: false,
  },
);

let completed = 0;
let lastSummary = 0;
let lost = 0;
worker.on('completed', (job) => {
  completed += 1;
  recorder.completed(job.id);
});
worker.on('lost', () => (lost += 1)); // handed back on close (or taken by another worker)
worker.on('error', (err) => console.error(`worker error: ${err.message}`));

const stopSummary = summarise(10_000, () => {
  if (completed === lastSummary && worker.activeCount === 0) return undefined;
  const line = `completed ${completed - lastSummary} jobs in 10 s; running ${worker.activeCount}`;
  lastSummary = completed;
  return line;
});
closeOnSignals(async () => {
  stopSummary();
  await worker.close();
  await recorder.close();
  log(`completed ${completed} jobs in all; handed back ${lost}`);
});
await worker.waitUntilReady();
log(`ready: consumer ${worker.consumer}, concurrency ${config.workerConcurrency}`);
