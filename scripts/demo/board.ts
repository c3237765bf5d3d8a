/**
 * One section's board: what the demo observed, kept as data so a renderer can
 * draw it live (TTY) or log it line by line (anything else). Sections feed it
 * what they see — jobs added, started, finished, and events worth a line —
 * and end it with a verdict. Nothing here touches Redis or the terminal.
 */
import { EventEmitter } from 'node:events';
import { FINAL_STATES, type JobState } from '@streamjobs/core';

/** The board's columns, in order: a job is counted in the column of its state. */
export const JOB_STATES: readonly JobState[] = ['waiting', 'delayed', 'active', 'completed', 'failed', 'canceled'];

export type EventKind =
  | 'added'
  | 'started'
  | 'completed'
  | 'retried'
  | 'failed'
  | 'canceled'
  | 'aborted'
  | 'killed'
  | 'reclaimed'
  | 'handed-back'
  | 'caught-up'
  | 'on-time'
  | 'resumed'
  | 'step'
  | 'error';

export interface BoardEvent {
  /** Milliseconds since the section began. */
  at: number;
  kind: EventKind;
  text: string;
}

export interface Verdict {
  ok: boolean;
  /** What was shown (or, when not ok, what was expected and what happened). */
  text: string;
}

interface TrackedJob {
  name: string;
  tier: string;
  state: JobState;
}

/** One row of the board: a tier, its jobs per state, and when its jobs started (1 = first in the section). */
export interface TierRow {
  tier: string;
  counts: Record<JobState, number>;
  startOrder: number[];
}

/** How far the section is: `done` of `total` `unit`. */
export interface Progress {
  done: number;
  total: number;
  unit: string;
}

export interface BoardEvents {
  event: [BoardEvent];
  status: [string];
  concluded: [Verdict];
}

export class Board extends EventEmitter<BoardEvents> {
  readonly startedAt = Date.now();
  readonly events: BoardEvent[] = [];
  /** What the section is waiting for now, and since when. */
  status: { text: string; since: number } | undefined;
  verdict: Verdict | undefined;
  finishedAt: number | undefined;
  private readonly jobs = new Map<string, TrackedJob>();
  private readonly starts: { id: string; tier: string }[] = [];
  private progressOf: () => Progress = () => ({ done: this.finalJobs(), total: this.jobs.size, unit: 'jobs' });

  /**
   * @param tiers the queue's tiers, highest first: the order of the rows.
   */
  constructor(
    readonly number: number,
    readonly title: string,
    readonly premise: string,
    private readonly tiers: readonly string[],
  ) {
    super();
  }

  /** Starts counting a job, in its state (waiting unless it says delayed); a job already counted keeps its state. */
  track(job: { id: string; name: string; priority: string; state?: JobState }): void {
    if (this.jobs.has(job.id)) return;
    this.jobs.set(job.id, { name: job.name, tier: job.priority, state: job.state ?? 'waiting' });
  }

  /** A job started: it moves to `active` and takes the next place in the start order. */
  started(job: { id: string; name: string; priority: string }): void {
    this.track(job);
    this.jobs.get(job.id)!.state = 'active';
    this.starts.push({ id: job.id, tier: job.priority });
  }

  /** A tracked job moved to `state`; unknown jobs are ignored. */
  move(id: string, state: JobState): void {
    const job = this.jobs.get(id);
    if (job) job.state = state;
  }

  nameOf(id: string): string {
    return this.jobs.get(id)?.name ?? id;
  }

  /** Names of the jobs in the order they started. */
  startOrder(): string[] {
    return this.starts.map(({ id }) => this.nameOf(id));
  }

  log(kind: EventKind, text: string): void {
    const event = { at: Date.now() - this.startedAt, kind, text };
    this.events.push(event);
    this.emit('event', event);
  }

  /** Says what the section waits for now (until it says something else, or concludes). */
  waitingFor(text: string): void {
    this.status = { text, since: Date.now() };
    this.emit('status', text);
  }

  /** Measures progress in `unit` with `count`, instead of the tracked jobs that reached a final state. */
  measure(total: number, unit: string, count: () => number): void {
    this.progressOf = () => ({ done: Math.min(count(), total), total, unit });
  }

  progress(): Progress {
    return this.progressOf();
  }

  rows(): TierRow[] {
    return this.tiers
      .map((tier) => {
        const counts = Object.fromEntries(JOB_STATES.map((state) => [state, 0])) as Record<JobState, number>;
        for (const job of this.jobs.values()) if (job.tier === tier) counts[job.state]++;
        const startOrder = this.starts.flatMap((start, index) => (start.tier === tier ? [index + 1] : []));
        return { tier, counts, startOrder };
      })
      .filter((row) => JOB_STATES.some((state) => row.counts[state] > 0));
  }

  conclude(verdict: Verdict): void {
    this.verdict = verdict;
    this.status = undefined;
    this.finishedAt = Date.now();
    this.emit('concluded', verdict);
  }

  private finalJobs(): number {
    return [...this.jobs.values()].filter((job) => FINAL_STATES.includes(job.state)).length;
  }
}
