/**
 * The `producer` service (docker-compose.yml; `pnpm cluster` runs it too):
 * defines a repeat schedule, then adds a steady mix of jobs over the priority
 * tiers (plain, delayed and resumable imports; see local-cluster/jobs.ts), 10
 * a second by default, until SIGTERM or SIGINT. Every job whose `add()`
 * resolved is recorded (local-cluster/config.ts, RecordKeys).
 */
import { Queue } from '@streamjobs/core';
import { QUEUE, clusterConfig } from './local-cluster/config.js';
import { TICK, nthJob, type JobKind } from './local-cluster/jobs.js';
import { closeOnSignals, log, summarise } from './local-cluster/lifecycle.js';
import { Recorder } from './local-cluster/records.js';

const config = clusterConfig();
const queue = new Queue(QUEUE, { connection: config.connection, prefix: config.prefix });
const recorder = new Recorder(config.connection, config.records);
await queue.schedule(TICK.id, TICK.spec, TICK.template);
log(`ready: adding ${config.producerRate} jobs/s to "${QUEUE}"; schedule "${TICK.id}": ${JSON.stringify(TICK.spec)}`);

const adding = new Set<Promise<void>>();
const added = new Map<JobKind, number>();
let n = 0;
let total = 0;
const timer = setInterval(() => {
  const { kind, name, data, opts } = nthJob(n++);
  const add = queue.add(name, data, opts).then(
    (job) => {
      recorder.added(job.id, kind);
      total += 1;
      added.set(kind, (added.get(kind) ?? 0) + 1);
    },
    (err: Error) => console.error(`add failed: ${err.message}`),
  );
  adding.add(add);
  void add.finally(() => adding.delete(add));
}, 1_000 / config.producerRate);

const stopSummary = summarise(10_000, () => {
  if (added.size === 0) return undefined;
  const line = `added in 10 s: ${[...added].map(([kind, count]) => `${count} ${kind}`).join(', ')}`;
  added.clear();
  return line;
});
closeOnSignals(async () => {
  clearInterval(timer);
  stopSummary();
  await Promise.all(adding);
  await recorder.close();
  await queue.close();
  log(`added ${total} jobs in all`);
});
