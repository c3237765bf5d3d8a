/**
 * The `scheduler` service (docker-compose.yml; `pnpm cluster` runs it too):
 * a standalone Scheduler for the cluster's queue, the one place that queues
 * due delayed jobs, retries and occurrences of repeat schedules (the workers
 * run with `scheduler: false`). Run two for a hot standby: per queue exactly
 * one leads, and the other takes over within `lockTtl` (5 s) if it dies, or
 * at once when it closes. Runs until SIGTERM or SIGINT.
 */
import { Scheduler } from '@streamjobs/scheduler';
import { QUEUE, clusterConfig } from './local-cluster/config.js';
import { closeOnSignals, log, summarise } from './local-cluster/lifecycle.js';

const config = clusterConfig();
const scheduler = new Scheduler({ connection: config.connection, prefix: config.prefix, queues: [QUEUE] });
let promoted = 0;
let occurrences = 0;
let missed = 0;
scheduler.on('leader:elected', ({ queue, term }) => log(`leading "${queue}" (term ${term})`));
scheduler.on('leader:lost', ({ queue }) => log(`no longer leading "${queue}"`));
scheduler.on('jobs:promoted', ({ count }) => (promoted += count));
scheduler.on('schedules:materialised', (s) => {
  occurrences += s.created;
  missed += s.missed;
});
scheduler.on('error', (err) => console.error(`scheduler error: ${err.message}`));
log(`ready: scheduler ${scheduler.instanceId} for "${QUEUE}"`);

const stopSummary = summarise(10_000, () => {
  if (promoted + occurrences + missed === 0) return undefined;
  const line = `in 10 s: queued ${promoted} due delayed jobs, ${occurrences} schedule occurrences (${missed} missed)`;
  promoted = occurrences = missed = 0;
  return line;
});
closeOnSignals(async () => {
  stopSummary();
  await scheduler.close();
});
