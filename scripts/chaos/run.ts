/**
 * `pnpm chaos`: at-least-once under fire. On a redis-server of its own, 4
 * worker processes and 2 scheduler processes run 20,000 jobs over all tiers
 * (some delayed, some failing once, some canceled) and a repeat schedule
 * (every 500 ms, catchUp 'all'), while a random worker is SIGKILLed every
 * ~2 s and the scheduler leader every ~10 s, each restarted at once. Then it
 * checks and prints: every job in a final state, none lost, how many attempts
 * ran twice (only those running in a killed process may), every schedule
 * occurrence exactly once, no canceled job completed. Exits 1 on any
 * violation.
 *
 *   --jobs N           jobs added (default 20,000)
 *   --seconds N        length of the chaos phase (default 40)
 *   --seed N           seed of the job plan and of the kills' choices (default: random)
 *   --drain-seconds N  longest wait for the last jobs after the chaos phase (default 120)
 *
 * The last line is `chaos-result <JSON>` (figures and violations), for CI.
 */
import { parseArgs } from 'node:util';
import { startRedisServer } from '@streamjobs/testing';
import { runChaos, type ChaosOptions, type ChaosResult } from './chaos.js';

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '40' },
    seed: { type: 'string' },
    'drain-seconds': { type: 'string', default: '120' },
  },
});

function positive(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
}

const say = (line = '') => process.stdout.write(`${line}\n`);
const seed = args.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : positive('seed', args.seed);
const settings: Omit<ChaosOptions, 'url' | 'log'> = {
  jobs: positive('jobs', args.jobs),
  seconds: positive('seconds', args.seconds),
  workers: 4,
  schedulers: 2,
  concurrency: 10,
  stallTimeout: 5_000,
  // kills come every ~2 s: a job may be caught in more than the default 3 of them
  maxStalls: 10,
  lockTtl: 3_000,
  workerKillEveryMs: 2_000,
  leaderKillEveryMs: 10_000,
  every: 500,
  drainTimeoutMs: positive('drain-seconds', args['drain-seconds']) * 1_000,
  seed,
};

const redis = await startRedisServer();
say(`streamjobs chaos run: seed ${seed}, ${settings.jobs} jobs over ${settings.seconds} s, own redis-server at ${redis.url}`);
let result: ChaosResult;
try {
  result = await runChaos({ ...settings, url: redis.url, log: say });
} finally {
  await redis.stop();
}
report(result);
say(`chaos-result ${JSON.stringify(result)}`);
process.exit(result.violations.length === 0 ? 0 : 1);

function report({ figures: f, violations, leaderTakeoversMs, chaosMs, drainMs, workerErrors }: ChaosResult): void {
  const n = (value: number) => value.toLocaleString('en-US');
  const longestTakeover = leaderTakeoversMs.length ? `; a new leader within ${n(Math.max(...leaderTakeoversMs))} ms at most` : '';
  say();
  say('Results');
  say(
    `  jobs          ${n(f.jobs.acked)} of ${n(f.jobs.planned)} added and acknowledged: ${n(f.jobs.completed)} completed, ` +
      `${n(f.jobs.canceled)} canceled, ${n(f.jobs.failed)} failed, ${n(f.jobs.notFinal)} not final, ${n(f.jobs.lost)} lost`,
  );
  say(
    `  kills         ${n(f.kills.workers)} worker processes (every ~${settings.workerKillEveryMs / 1_000} s), ` +
      `${n(f.kills.leaders)} scheduler leaders (every ~${settings.leaderKillEveryMs / 1_000} s${longestTakeover})`,
  );
  say(
    `  ran twice     ${n(f.ranTwice.attempts)} attempts (${n(f.ranTwice.extraRuns)} extra runs, ${n(f.ranTwice.occurrences)} of them schedule occurrences); ` +
      `${n(f.ranTwice.inKilledProcesses)} cut short by a kill; bound ${n(f.ranTwice.bound)} (kills × concurrency)`,
  );
  say(`  reclaimed     ${n(f.stalls)} stalled runs requeued`);
  say(
    `  schedule      every ${settings.every} ms, catchUp 'all': ${n(f.schedule.expected)} occurrences due, ${n(f.schedule.materialised)} materialised ` +
      `(${n(f.schedule.missing)} missing, ${n(f.schedule.unexpected)} unexpected), ${n(f.schedule.completed)} completed, ${n(f.schedule.missed)} missed`,
  );
  say(
    `  canceled      ${n(f.cancel.canceled)} by cancel() (${n(f.cancel.beforeStart)} before starting, ${n(f.cancel.afterStart)} after), ` +
      `${n(f.cancel.startedLater)} started later, ${n(f.cancel.completedAfterCancel)} completed anyway; ` +
      `${n(f.cancel.alreadyFinal)} cancel() calls found the job already completed`,
  );
  say(`  retried       ${n(f.retried)} jobs failed their first attempt on purpose and completed on the second`);
  say(`  time          chaos ${(chaosMs / 1_000).toFixed(1)} s, then ${(drainMs / 1_000).toFixed(1)} s until every job was final`);
  say(`  worker errors ${n(workerErrors)} error events in worker processes`);
  say();
  if (violations.length === 0) say('PASS: no violation');
  else {
    say(`FAIL: ${violations.length} kind(s) of violation`);
    for (const line of violations) say(`  - ${line}`);
  }
}
