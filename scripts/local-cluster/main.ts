/**
 * `pnpm cluster`: the docker-compose topology (Redis with AOF, a scheduler, a
 * producer, N workers) as plain processes on this machine, with a progress
 * line every 2 s. Uses REDIS_URL when set; otherwise starts a redis-server
 * with AOF on in a temporary directory (removed on exit).
 *
 *   --workers N   workers to start with (default 2)
 *   --rate N      jobs per second the producer adds (default 10)
 *
 * While it runs, type on stdin (then Enter): a number to scale the workers to
 * it, `+` or `-` for one more or one less, `p` to stop or restart the
 * producer, `q` (or Ctrl-C) to stop everything gracefully. Exits 0 when every
 * process it started exited 0.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Queue, RedisConnection } from '@streamjobs/core';
import { startRedisServer } from '@streamjobs/testing';
import { LocalCluster } from './cluster.js';
import { QUEUE, clusterConfig } from './config.js';
import { formatProgress, readProgress } from './progress.js';

const HELP = 'type a number to scale the workers to it, + or - for one more or less, p to stop/start the producer, q or Ctrl-C to quit';

const { values } = parseArgs({ options: { workers: { type: 'string', default: '2' }, rate: { type: 'string', default: '10' } } });
const initialWorkers = wholeNumber('--workers', values.workers, 0);
const rate = wholeNumber('--rate', values.rate, 1);
const say = (line: string) => process.stdout.write(`${line}\n`);

// In a process group of its own: Ctrl-C reaches the cluster's processes, which close using it, then we stop it.
const ownRedis = process.env.REDIS_URL
  ? undefined
  : await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'everysec'], { ownProcessGroup: true });
const env = { REDIS_URL: process.env.REDIS_URL || ownRedis!.url, PRODUCER_RATE: String(rate) };
const config = clusterConfig({ ...process.env, ...env });
const where = ownRedis ? `a redis-server with AOF in ${ownRedis.dir}` : 'REDIS_URL';
say(`streamjobs local cluster — Redis ${env.REDIS_URL} (${where}), key prefix ${config.prefix}, queue "${QUEUE}"`);
say(HELP);

const cluster = new LocalCluster({ env, output: say });
const exits: Promise<(number | null | undefined)[]>[] = [];
cluster.start(initialWorkers);
const queue = new Queue(QUEUE, { connection: config.connection, prefix: config.prefix });
const records = RedisConnection.create(config.connection);
const startedAt = Date.now();
const showProgress = () =>
  readProgress(queue, records, config.records).then(
    (progress) => say(formatProgress(progress, cluster.workers.length, Date.now() - startedAt)),
    (err: Error) => say(`progress unavailable: ${err.message}`),
  );
const progressTimer = setInterval(() => void showProgress(), 2_000);

const commands = createInterface({ input: process.stdin });
commands.on('line', (input) => {
  const command = input.trim();
  if (/^\d+$/.test(command)) scaleTo(Number(command));
  else if (command === '+') scaleTo(cluster.workers.length + 1);
  else if (command === '-') scaleTo(Math.max(0, cluster.workers.length - 1));
  else if (command === 'p' && cluster.producer) exits.push(cluster.stopProducer().then((code) => [code]));
  else if (command === 'p') cluster.startProducer();
  else if (command === 'q') void quit();
  else if (command !== '') say(HELP);
});

let quitting: Promise<void> | undefined;
process.on('SIGINT', () => void quit());
process.on('SIGTERM', () => void quit());

function scaleTo(workers: number): void {
  say(`scaling to ${workers} worker(s)`);
  exits.push(cluster.scaleWorkers(workers));
}

function quit(): Promise<void> {
  quitting ??= (async () => {
    clearInterval(progressTimer);
    commands.close();
    say('stopping: producer first, then workers (running jobs finish or are handed back) and the scheduler');
    exits.push(cluster.stop());
    const codes = (await Promise.all(exits)).flat();
    await showProgress();
    records.close();
    await queue.close();
    await ownRedis?.stop();
    const failed = codes.filter((code) => code !== 0 && code !== undefined);
    if (failed.length > 0) process.exitCode = 1;
    say(failed.length > 0 ? `stopped; ${failed.length} process(es) exited with an error` : 'stopped cleanly');
  })();
  return quitting;
}

function wholeNumber(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be a whole number of at least ${min}, got ${value}`);
  return n;
}
