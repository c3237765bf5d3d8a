/**
 * A section of the demo: a premise it sets up, a run that feeds its board, and
 * a verdict on what the run showed. Each section gets a queue of its own (so
 * one that goes wrong leaves nothing behind for the next), and everything it
 * opens is closed, and every process it spawns killed, before the next begins.
 */
import { Queue } from '@streamjobs/core';
import { Worker, type Handler, type WorkerOptions } from '@streamjobs/worker';
import { spawnFixture, type FixtureProcess } from '@streamjobs/testing';
import { Board, type Verdict } from './board.js';
import { observeWorker, type ObserveOptions } from './observe.js';
import type { Renderer } from './render.js';

export interface Section {
  /** Names the section's queue. */
  slug: string;
  title: string;
  /** What the section sets up, in a line. */
  premise: string;
  run(ctx: SectionContext): Promise<Verdict>;
}

export interface DemoEnvironment {
  redisUrl: string;
  prefix: string;
}

type WorkerSettings = Omit<WorkerOptions, 'connection' | 'prefix'> & ObserveOptions;

export interface SectionContext {
  readonly board: Board;
  readonly queue: Queue;
  readonly prefix: string;
  /** A worker on the section's queue in this process, its events shown on the board. */
  worker<Data = any>(handler: Handler<Data>, settings?: WorkerSettings): Worker<Data>;
  /** A fixture of @streamjobs/testing in a child process, killed when the section ends. */
  spawn(fixture: string, config: Record<string, unknown>): FixtureProcess;
}

/** Runs one section on its board; resolves with its verdict (a failure is a verdict too). */
export async function runSection(section: Section, number: number, env: DemoEnvironment, renderer: Renderer): Promise<Verdict> {
  const connection = { url: env.redisUrl };
  const queue = new Queue(`demo-${section.slug}`, { connection, prefix: env.prefix });
  const cleanups: (() => Promise<unknown>)[] = [() => queue.close()];
  const board = new Board(number, section.title, section.premise, await queue.getTiers());
  const ctx: SectionContext = {
    board,
    queue,
    prefix: env.prefix,
    worker(handler, { label, quiet, ...options } = {}) {
      const worker = new Worker(queue.name, handler, { connection, prefix: env.prefix, ...options });
      cleanups.push(() => worker.close());
      return observeWorker(board, worker, { label, quiet });
    },
    spawn(fixture, config) {
      const child = spawnFixture(fixture, { url: env.redisUrl, prefix: env.prefix, ...config });
      cleanups.push(() => child.kill('SIGKILL'));
      return child;
    },
  };
  renderer.show(board);
  let verdict: Verdict;
  try {
    verdict = await section.run(ctx);
  } catch (err) {
    verdict = { ok: false, text: `did not finish: ${(err as Error).message}` };
  }
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  board.conclude(verdict);
  return verdict;
}
