/**
 * The checks at the end of a chaos run, on what Redis holds: the job hashes,
 * the schedule, and the handler's own record of every start
 * (`<recordKey>:runs`, see ChaosWorkerConfig in packages/testing).
 */
import type { Queue, RedisConnection } from '@streamjobs/core';
import { parseRunRecord, type RunRecord } from '@streamjobs/testing';
import type { PlannedJob } from './plan.js';
import type { CancelAnswer } from './producer.js';

/**
 * A start this long after `cancel()` resolved means the job was handed to a
 * worker after it was canceled. (A job handed over just before its cancel
 * starts within milliseconds; the signal of one that runs on is aborted.)
 */
const START_AFTER_CANCEL_MARGIN_MS = 2_000;

export interface VerifyInput {
  redis: RedisConnection;
  queue: Queue;
  recordKey: string;
  planned: number;
  acked: ReadonlyMap<string, PlannedJob>;
  cancelAnswers: ReadonlyMap<string, CancelAnswer>;
  schedule: { id: string; expected: readonly number[] };
  killedWorkerPids: readonly number[];
  leaderKills: number;
  concurrency: number;
}

export interface ChaosFigures {
  jobs: { planned: number; acked: number; completed: number; canceled: number; failed: number; notFinal: number; lost: number };
  kills: { workers: number; leaders: number };
  /** Attempts whose handler started more than once, and the most the kills allow (kills × concurrency). */
  ranTwice: { attempts: number; extraRuns: number; occurrences: number; bound: number; inKilledProcesses: number };
  /** Reclaims recorded on the jobs (`stalls`). */
  stalls: number;
  schedule: { expected: number; materialised: number; completed: number; missing: number; unexpected: number; missed: number };
  cancel: { canceled: number; beforeStart: number; afterStart: number; startedLater: number; completedAfterCancel: number; alreadyFinal: number };
  /** Jobs that failed their first attempt on purpose and completed on the second. */
  retried: number;
}

export interface Verdict {
  figures: ChaosFigures;
  /** What went wrong, one line each (examples, not every id). */
  violations: string[];
}

const FINAL = new Set(['completed', 'failed', 'canceled']);
const FIELDS = ['state', 'attemptsMade', 'stalls', 'error'] as const;

interface StoredJob {
  state: string | null;
  attemptsMade: number;
  stalls: number;
  error: string | null;
}

export async function verify(input: VerifyInput): Promise<Verdict> {
  const violations = new Violations();
  const { redis, queue, acked, cancelAnswers, schedule } = input;
  const records = await readRuns(redis, `${input.recordKey}:runs`);
  const runs = groupRuns(records);
  const lastStart = new Map<string, number>();
  for (const { id, at } of records) lastStart.set(id, Math.max(at, lastStart.get(id) ?? 0));
  const occurrenceIds = await scanOccurrences(redis, queue, schedule.id);
  const jobs = await readJobs(redis, queue, [...acked.keys(), ...occurrenceIds]);
  const runsOf = (id: string, attempt: number) => runs.get(`${id}|${attempt}`) ?? [];

  // Every acknowledged job is in its expected final state.
  const states = { completed: 0, canceled: 0, failed: 0, notFinal: 0, lost: 0 };
  const cancel = { canceled: 0, beforeStart: 0, afterStart: 0, startedLater: 0, completedAfterCancel: 0, alreadyFinal: 0 };
  let retried = 0;
  for (const [id, plan] of acked) {
    const job = jobs.get(id)!;
    const answer = cancelAnswers.get(id);
    if (job.state === null) {
      states.lost++;
      violations.add('lost (acknowledged add, no job in Redis)', id);
      continue;
    }
    if (!FINAL.has(job.state)) {
      states.notFinal++;
      violations.add('not in a final state at the end', `${id} (${job.state})`);
      continue;
    }
    states[job.state as 'completed' | 'canceled' | 'failed']++;
    if (answer?.canceled) {
      cancel.canceled++;
      const startedAt = lastStart.get(id);
      if (startedAt === undefined) cancel.beforeStart++;
      else cancel.afterStart++;
      if (startedAt !== undefined && startedAt > answer.at + START_AFTER_CANCEL_MARGIN_MS) {
        cancel.startedLater++;
        violations.add('started after it was canceled', `${id} (${startedAt - answer.at} ms after)`);
      }
      if (job.state === 'completed') cancel.completedAfterCancel++;
      if (job.state !== 'canceled') violations.add('canceled by cancel() but did not end canceled', `${id} (${job.state})`);
      continue;
    }
    if (answer) cancel.alreadyFinal++;
    if (job.state !== 'completed') {
      violations.add('did not complete', `${id} (${job.state}${job.error ? `: ${job.error}` : ''})`);
      continue;
    }
    if (runsOf(id, job.attemptsMade + 1).length === 0) violations.add('completed without a recorded run of its last attempt', id);
    if (plan.kind === 'failOnce' && job.attemptsMade === 1) retried++;
  }

  // Every occurrence of the schedule between its start and end exactly once, run to completion.
  const expected = new Set(schedule.expected.map((at) => `${schedule.id}@${at}`));
  const materialised = new Set(occurrenceIds);
  const missing = [...expected].filter((id) => !materialised.has(id));
  const unexpected = occurrenceIds.filter((id) => !expected.has(id));
  missing.forEach((id) => violations.add('schedule occurrence never materialised', id));
  unexpected.forEach((id) => violations.add('schedule occurrence outside its start..end', id));
  let occurrencesCompleted = 0;
  for (const id of occurrenceIds) {
    const job = jobs.get(id)!;
    if (job.state === 'completed' && runsOf(id, job.attemptsMade + 1).length > 0) occurrencesCompleted++;
    else violations.add('schedule occurrence not run to completion', `${id} (${job.state})`);
  }
  const info = await queue.getSchedule(schedule.id);
  if (!info) violations.add('schedule missing', schedule.id);
  else {
    if (info.runs !== expected.size) violations.add('schedule run count differs from its occurrences', `runs ${info.runs}, expected ${expected.size}`);
    if (info.missed !== 0) violations.add("catchUp 'all' counted occurrences missed", `missed ${info.missed}`);
    if (!info.ended) violations.add('schedule did not end at its endAt', schedule.id);
  }

  // Only attempts running in a process when it was SIGKILLed may have started twice.
  const killed = new Set(input.killedWorkerPids);
  const doubledPerKilledPid = new Map<number, number>();
  let attempts = 0;
  let extraRuns = 0;
  let occurrences = 0;
  let inKilledProcesses = 0;
  for (const [key, pids] of runs) {
    if (pids.length < 2) continue;
    attempts++;
    extraRuns += pids.length - 1;
    if (key.startsWith(`${schedule.id}@`)) occurrences++;
    // every run but the last was cut short; each must have been in a killed process
    const cut = pids.slice(0, -1);
    if (cut.every((pid) => killed.has(pid))) inKilledProcesses++;
    else violations.add('ran twice without its process being killed', `${key} in pids ${pids.join(',')}`);
    for (const pid of cut) doubledPerKilledPid.set(pid, (doubledPerKilledPid.get(pid) ?? 0) + 1);
  }
  for (const [pid, count] of doubledPerKilledPid) {
    if (killed.has(pid) && count > input.concurrency) {
      violations.add('more reruns from one killed process than its concurrency', `pid ${pid}: ${count} > ${input.concurrency}`);
    }
  }
  const bound = input.killedWorkerPids.length * input.concurrency;
  if (extraRuns > bound) violations.add('more reruns than kills × concurrency', `${extraRuns} > ${bound}`);

  // Nothing left behind: no waiting, running or delayed job, no dead letter.
  const counts = await queue.counts();
  if (counts.waiting + counts.active + counts.delayed > 0) {
    violations.add('jobs left unfinished in the queue', JSON.stringify({ waiting: counts.waiting, active: counts.active, delayed: counts.delayed }));
  }
  const deadLetters = await redis.call<number>(['ZCARD', queue.keys.dead]);
  if (deadLetters > 0) violations.add('dead letters', `${deadLetters} in ${queue.keys.dead}`);

  return {
    figures: {
      jobs: { planned: input.planned, acked: acked.size, ...states },
      kills: { workers: input.killedWorkerPids.length, leaders: input.leaderKills },
      ranTwice: { attempts, extraRuns, occurrences, bound, inKilledProcesses },
      stalls: [...jobs.values()].reduce((sum, job) => sum + job.stalls, 0),
      schedule: {
        expected: expected.size,
        materialised: materialised.size,
        completed: occurrencesCompleted,
        missing: missing.length,
        unexpected: unexpected.length,
        missed: info?.missed ?? 0,
      },
      cancel,
      retried,
    },
    violations: violations.lines(),
  };
}

/** Violations grouped by kind, with a count and the first few examples. */
class Violations {
  private readonly byKind = new Map<string, string[]>();

  add(kind: string, example: string): void {
    const examples = this.byKind.get(kind) ?? [];
    examples.push(example);
    this.byKind.set(kind, examples);
  }

  lines(): string[] {
    return [...this.byKind].map(([kind, examples]) => `${kind}: ${examples.length} (e.g. ${examples.slice(0, 5).join('; ')})`);
  }
}

async function readRuns(redis: RedisConnection, key: string): Promise<RunRecord[]> {
  const records: RunRecord[] = [];
  let cursor = '0';
  do {
    const [next, flat] = await redis.call<[string, string[]]>(['HSCAN', key, cursor, 'COUNT', 1_000]);
    cursor = String(next);
    for (let i = 0; i < flat.length; i += 2) records.push(parseRunRecord(flat[i]!, flat[i + 1]!));
  } while (cursor !== '0');
  return records;
}

/** `<id>|<attempt>` → the pids that started that attempt, in the order they started. */
function groupRuns(records: readonly RunRecord[]): Map<string, number[]> {
  const runs = new Map<string, RunRecord[]>();
  for (const record of records) {
    const key = `${record.id}|${record.attempt}`;
    runs.set(key, [...(runs.get(key) ?? []), record]);
  }
  return new Map([...runs].map(([key, starts]) => [key, starts.sort((a, b) => a.at - b.at).map((start) => start.pid)]));
}

async function readJobs(redis: RedisConnection, queue: Queue, ids: readonly string[]): Promise<Map<string, StoredJob>> {
  const jobs = new Map<string, StoredJob>();
  const chunk = 1_000;
  for (let start = 0; start < ids.length; start += chunk) {
    const slice = ids.slice(start, start + chunk);
    const replies = await Promise.all(slice.map((id) => redis.call<(string | null)[]>(['HMGET', queue.keys.job(id), ...FIELDS])));
    slice.forEach((id, index) => {
      const [state, attemptsMade, stalls, error] = replies[index]!;
      jobs.set(id, { state: state ?? null, attemptsMade: Number(attemptsMade ?? 0), stalls: Number(stalls ?? 0), error: error ?? null });
    });
  }
  return jobs;
}

/** Ids of every job of the schedule in Redis (`<scheduleId>@<nominal ms>`). */
async function scanOccurrences(redis: RedisConnection, queue: Queue, scheduleId: string): Promise<string[]> {
  const jobKeyPrefix = queue.keys.job('');
  const ids: string[] = [];
  let cursor = '0';
  do {
    const match = `${queue.keys.job(`${scheduleId}@`)}*`;
    const [next, keys] = await redis.call<[string, string[]]>(['SCAN', cursor, 'MATCH', match, 'COUNT', 1_000]);
    cursor = String(next);
    ids.push(...keys.map((key) => String(key).slice(jobKeyPrefix.length)));
  } while (cursor !== '0');
  return ids.sort();
}
