/**
 * The cluster's jobs: what the producer adds (a steady mix over the priority
 * tiers: plain, delayed and resumable ones, plus one repeat schedule) and
 * what the worker's handler does with each.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ActiveJob, BulkJob, ScheduleSpec, ScheduleTemplate } from '@streamjobs/core';
import type { JobContext } from '@streamjobs/worker';

const TIERS = ['critical', 'high', 'normal', 'low'] as const;
/** Finished jobs stay readable (`getJob`) for an hour, then retention removes them. */
const KEEP_AN_HOUR = { age: 3_600_000 };

export type JobKind = 'work' | 'delayed' | 'import';

export interface WorkData {
  ms: number;
}

export interface ImportData {
  rows: number;
  batch: number;
  msPerBatch: number;
}

/** What an import saves after each batch: how far it got, and where each attempt started. */
export interface ImportCheckpoint {
  offset: number;
  startedAt: number[];
}

export type ImportResult = ImportCheckpoint;

/** The producer's n-th job (n from 0): every 10th an import, every 4th of the rest delayed 1–3 s. */
export function nthJob(n: number): BulkJob<WorkData | ImportData> & { kind: JobKind } {
  const priority = TIERS[n % TIERS.length]!;
  if (n % 10 === 9) {
    // 15 batches of 200 ms: longer than a closing worker waits, so scale-downs hand some back mid-way.
    const data: ImportData = { rows: 60, batch: 4, msPerBatch: 200 };
    return { kind: 'import', name: 'import', data, opts: { priority, removeOnComplete: KEEP_AN_HOUR } };
  }
  const data: WorkData = { ms: 50 + (n % 5) * 50 };
  if (n % 4 === 3) {
    const delay = 1_000 + (n % 3) * 1_000;
    return { kind: 'delayed', name: 'work', data, opts: { priority, delay, removeOnComplete: KEEP_AN_HOUR } };
  }
  return { kind: 'work', name: 'work', data, opts: { priority, removeOnComplete: KEEP_AN_HOUR } };
}

/** The repeat schedule the producer defines (an upsert: every producer start may define it again). */
export const TICK: { id: string; spec: ScheduleSpec; template: ScheduleTemplate<Record<string, never>> } = {
  id: 'tick',
  spec: { cron: '*/5 * * * * *', catchUp: 'all', maxCatchUp: 12 },
  template: { name: 'tick', data: {}, opts: { priority: 'high', removeOnComplete: KEEP_AN_HOUR } },
};

/** The worker's handler. */
export async function runClusterJob(job: ActiveJob, ctx: JobContext): Promise<unknown> {
  if (job.name === 'import') return runImport(job as ActiveJob<ImportData>, ctx);
  if (job.name === 'tick') return { scheduledFor: job.scheduledFor, lateMs: job.lateMs };
  const { ms } = job.data as WorkData;
  await sleep(ms, undefined, { signal: ctx.signal });
  return { ms };
}

/**
 * A resumable job: works through `rows` in batches and saves a checkpoint
 * after each, so an attempt after a hand-back (or a crash) starts where the
 * last one got to instead of at row 0.
 */
async function runImport(job: ActiveJob<ImportData>, ctx: JobContext): Promise<ImportResult> {
  const { rows, batch, msPerBatch } = job.data;
  const saved = job.checkpoint as ImportCheckpoint | null;
  let offset = saved?.offset ?? 0;
  const startedAt = [...(saved?.startedAt ?? []), offset];
  await ctx.checkpoint({ offset, startedAt });
  while (offset < rows) {
    await sleep(msPerBatch, undefined, { signal: ctx.signal }); // the batch's work
    offset = Math.min(rows, offset + batch);
    await ctx.checkpoint({ offset, startedAt });
  }
  return { offset, startedAt };
}
