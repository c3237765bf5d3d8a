/**
 * What the chaos run adds and cancels, decided up front from a seed (the
 * timing of kills is not reproducible; the jobs are).
 */
import type { JobOptions } from '@streamjobs/core';
import { mulberry32, type ChaosJobData } from '@streamjobs/testing';

export type JobKind = 'short' | 'delayed' | 'failOnce' | 'long';

export interface PlannedJob {
  id: string;
  kind: JobKind;
  data: ChaosJobData;
  opts: JobOptions & { jobId: string };
  /** When it is added, in ms from the start of the chaos phase. */
  addAt: number;
  /** Canceled this many ms after its add was acknowledged; undefined: never. */
  cancelAfter?: number;
}

export const TIERS = ['critical', 'high', 'normal', 'low'] as const;

/** Share of each kind; the rest are short jobs. */
const DELAYED = 0.1;
const FAIL_ONCE = 0.05;
const LONG = 0.01;

/**
 * `count` jobs over all tiers, added evenly over the first 90% of `chaosMs`:
 * short ones (2-40 ms), delayed ones (due 0.2-8 s after their add), ones that
 * fail their first attempt (retried after 300 ms through the delayed set), and
 * long ones (1.5-3 s, honouring their signal). Cancel targets: a fifth of the
 * delayed jobs due in 3 s or more (canceled within 1 s: while delayed), half
 * the long ones (canceled after 0.3-1.5 s: mostly while running), 1% of the
 * short ones (canceled within 50 ms: waiting, running or already done).
 */
export function planJobs(count: number, chaosMs: number, seed: number): PlannedJob[] {
  const random = mulberry32(seed);
  const between = (min: number, max: number) => Math.floor(min + random() * (max - min + 1));
  const chance = (p: number) => random() < p;
  return Array.from({ length: count }, (_, index) => {
    const roll = random();
    const kind: JobKind =
      roll < DELAYED ? 'delayed' : roll < DELAYED + FAIL_ONCE ? 'failOnce' : roll < DELAYED + FAIL_ONCE + LONG ? 'long' : 'short';
    const job: PlannedJob = {
      id: `c-${index}`,
      kind,
      data: { sleepMs: kind === 'long' ? between(1_500, 3_000) : between(2, 40) },
      opts: { jobId: `c-${index}`, priority: between(0, TIERS.length - 1) },
      addAt: Math.floor((index / count) * chaosMs * 0.9),
    };
    if (kind === 'delayed') {
      job.opts.delay = between(200, 8_000);
      if (job.opts.delay >= 3_000 && chance(0.2)) job.cancelAfter = between(0, 1_000);
    } else if (kind === 'failOnce') {
      job.data.failOnce = true;
      job.opts.attempts = 2;
      job.opts.backoff = { type: 'fixed', delay: 300 };
    } else if (kind === 'long') {
      if (chance(0.5)) job.cancelAfter = between(300, 1_500);
    } else if (chance(0.01)) {
      job.cancelAfter = between(0, 50);
    }
    return job;
  });
}

