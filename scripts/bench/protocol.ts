/** What run.ts and worker.ts say to each other (see worker.ts). */
export type Lib = 'streamjobs' | 'bullmq';

export interface BenchWorkerConfig {
  lib: Lib;
  /** redis://host:port, and the same as host and port (BullMQ's connection options). */
  url: string;
  host: string;
  port: number;
  queue: string;
  /** streamjobs key prefix (BullMQ keeps its default `bull`). */
  prefix: string;
  concurrency: number;
  /** `latency`: handlers record Date-now-minus-`data.t` at their start. */
  mode: 'throughput' | 'latency';
}

/** Data of every benchmark job. */
export interface JobData {
  /** Index of the job in its run. */
  i: number;
  /** Latency runs: epoch ms (µs digits) just before `add` was called. */
  t?: number;
  /** Latency runs: a warm-up job, not recorded. */
  w?: 1;
}

export type ParentMessage = { type: 'go' } | { type: 'stop' };

export interface Progress {
  done: number;
  failed: number;
  /** When this process's first handler started (0: none yet). */
  firstStartAt: number;
  /** When this process saw its latest completion (0: none yet). */
  lastDoneAt: number;
}

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'started' }
  | ({ type: 'progress' } & Progress)
  | ({ type: 'result'; cpuUs: number; latencies: number[] } & Progress);
