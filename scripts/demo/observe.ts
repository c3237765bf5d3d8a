/** Turns what workers and child processes report into board updates and events. */
import { createInterface } from 'node:readline';
import type { Job } from '@streamjobs/core';
import type { Worker } from '@streamjobs/worker';
import type { FixtureProcess } from '@streamjobs/testing';
import type { Board, EventKind } from './board.js';

export interface ObserveOptions {
  /** Names the worker in event lines (`on A`). */
  label?: string;
  /** Kinds of events to count on the board without a line in the ticker. */
  quiet?: EventKind[];
}

/** Shows a worker's jobs on the board: started, completed, retried, failed, canceled, lost; and its reclaims and errors. */
export function observeWorker<W extends Worker<any>>(board: Board, worker: W, { label, quiet = [] }: ObserveOptions = {}): W {
  const on = label ? ` on ${label}` : '';
  const log = (kind: EventKind, text: string) => quiet.includes(kind) || board.log(kind, text);
  worker.on('active', (job) => {
    board.started(job);
    log('started', `${job.name}${on}${attemptNote(job)}`);
  });
  worker.on('completed', (job) => {
    board.move(job.id, 'completed');
    log('completed', `${job.name}${on}`);
  });
  worker.on('retrying', (job, err) => {
    board.move(job.id, job.opts.backoff ? 'delayed' : 'waiting');
    log('retried', `${job.name}: attempt ${job.attemptsMade} failed (${err.message}); retry scheduled`);
  });
  worker.on('failed', (job, err) => {
    board.move(job.id, 'failed');
    log('failed', `${job.name}${on}: ${err.message}`);
  });
  worker.on('canceled', (job, err) => {
    board.move(job.id, 'canceled');
    log('canceled', `${job.name} while running${on}: ${err.message}`);
  });
  // the job went back to the queue (handed back, or reclaimed by another worker)
  worker.on('lost', (job) => board.move(job.id, 'waiting'));
  worker.on('reclaimed', ({ requeued }) => {
    if (requeued > 0) log('reclaimed', `${label ?? 'a worker'} requeued ${requeued} stalled job(s)`);
  });
  worker.on('error', (err) => log('error', `${label ?? 'worker'}: ${err.message}`));
  return worker;
}

function attemptNote(job: Job): string {
  const notes = [job.attempt > 1 ? `attempt ${job.attempt}` : '', job.stalls > 0 ? `stalls ${job.stalls}` : ''].filter(Boolean);
  return notes.length > 0 ? ` (${notes.join(', ')})` : '';
}

/** Calls `onLine` with each line the process prints from now on; resolves when its output ends. */
export function followLines(child: FixtureProcess, onLine: (line: string) => unknown): Promise<void> {
  const lines = createInterface({ input: child.child.stdout! });
  lines.on('line', onLine);
  return new Promise((resolve) => lines.once('close', resolve));
}

/** `promise`, or a rejection saying what did not happen within `timeoutMs`. */
export function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A promise and the function that resolves it. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => (resolve = settle));
  return { promise, resolve };
}
