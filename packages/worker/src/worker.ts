import { EventEmitter } from 'node:events';
import { nanoid } from 'nanoid';
import {
  DEFAULT_MAX_EVENTS,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_PREFIX,
  InvalidOptionsError,
  JobCanceledError,
  QueueKeys,
  RedisConnection,
  StreamJobsError,
  WakeableSleep,
  assertOptionKeys,
  decodeJob,
  fromJson,
  handBack,
  initQueue,
  loadTracing,
  positiveDuration,
  positiveInteger,
  resolveLogger,
  tracingEnabled,
  validateTiers,
  type ConnectionOptions,
  type FetchedJob,
  type Job,
  type JobTracing,
  type TracedAttempt,
  type Logger,
  type QueueContext,
  type ReclaimResult,
} from '@streamjobs/core';
import { Scheduler, type SchedulerOptions } from '@streamjobs/scheduler';
import { CancelListener } from './cancel-listener.js';
import { Settler } from './settler.js';
import { HeartbeatService } from './heartbeat-service.js';
import { JobRunner } from './job-runner.js';
import { RunningJobs } from './running-jobs.js';
import { StallReclaimer } from './stall-reclaimer.js';
import type { Handler } from './types.js';

export interface WorkerOptions {
  /** node-redis client options (`{ url }`), or a client you own. */
  connection: ConnectionOptions;
  /** Key prefix; must match the queue's. Default `sj`. */
  prefix?: string;
  /** Jobs this process runs at once. Default 1. */
  concurrency?: number;
  /**
   * A job whose worker has not heartbeated for this long (ms) is taken from it
   * and run again elsewhere. Default 30,000.
   */
  stallTimeout?: number;
  /** How often running jobs are heartbeated (ms). Default a third of `stallTimeout`. */
  heartbeatInterval?: number;
  /** A job that stalls more often than this fails for good. Default 3. */
  maxStalls?: number;
  /** How long `close()` waits for running jobs before handing them back (ms). Default 10,000. */
  closeTimeout?: number;
  /** Tiers, if you want them checked against the queue's. */
  tiers?: string[];
  /** Embedded scheduler participant: options, or false for none. Default on. */
  scheduler?: boolean | Pick<SchedulerOptions, 'lockTtl' | 'pollInterval'>;
  /** Largest accepted handler result, as JSON bytes. Default 1 MiB. */
  maxResultBytes?: number;
  /** Largest accepted checkpoint, step result or progress value, as JSON bytes. Default 1 MiB. */
  maxCheckpointBytes?: number;
  /** Approximate cap of the events stream. Default 10,000. */
  maxEvents?: number;
  /**
   * How long an idle worker blocks per read before reading again (ms). A new
   * job ends the read at once; each new read costs a claim. Default 60,000.
   */
  blockTimeout?: number;
  connectTimeout?: number;
  logger?: Logger;
  /**
   * Run each attempt in an OpenTelemetry span linked to the trace of the code
   * that added the job (see the Queue's `tracing`). Needs `@opentelemetry/api`
   * installed. Default false.
   */
  tracing?: boolean;
}

export interface WorkerEvents {
  /** A job started on this worker. */
  active: [Job];
  completed: [Job, unknown];
  /** An attempt failed and a retry is scheduled. */
  retrying: [Job, Error];
  /** The job failed for good (after its last attempt, or unrecoverable). */
  failed: [Job, Error];
  /** The job was canceled while this worker ran it (or its handler canceled it). */
  canceled: [Job, JobCanceledError];
  /** This worker lost the job (reclaimed elsewhere, or handed back): its outcome was discarded. */
  lost: [Job];
  /** This worker requeued jobs of dead or stalled workers. */
  reclaimed: [ReclaimResult];
  error: [Error];
  closed: [];
}

const OPTION_KEYS = new Set([
  'connection',
  'prefix',
  'concurrency',
  'stallTimeout',
  'heartbeatInterval',
  'maxStalls',
  'closeTimeout',
  'tiers',
  'scheduler',
  'maxResultBytes',
  'maxCheckpointBytes',
  'maxEvents',
  'blockTimeout',
  'connectTimeout',
  'logger',
  'tracing',
]);

/**
 * Runs a queue's jobs in this process, up to `concurrency` at once, starting
 * on construction. Workers in any number of processes share a queue through
 * one consumer group. Modes:
 * - running: rounds of `settle` record finished jobs' outcomes and claim
 *   jobs for the free slots (highest tier first), blocking when idle;
 *   heartbeat running jobs, reclaim the jobs of dead workers;
 * - closing: take nothing new, let running jobs finish within `closeTimeout`,
 *   then abort and hand back the rest so other workers start them at once;
 * - closed: no connection left open.
 */
export class Worker<Data = any, Result = unknown> extends EventEmitter<WorkerEvents> {
  readonly name: string;
  /** This worker's consumer name in the group; unique per instance. */
  readonly consumer: string;
  private readonly keys: QueueKeys;
  private readonly logger: Logger;
  private readonly connection: RedisConnection;
  private readonly blocking: RedisConnection;
  private readonly cancelListener: CancelListener;
  private readonly running = new RunningJobs();
  private readonly slotFreed = new WakeableSleep();
  private readonly settings: Required<
    Pick<WorkerOptions, 'concurrency' | 'stallTimeout' | 'heartbeatInterval' | 'maxStalls' | 'closeTimeout' | 'maxResultBytes' | 'maxCheckpointBytes' | 'maxEvents' | 'blockTimeout'>
  >;
  private readonly handler: Handler<Data, Result>;
  /** The embedded scheduler participant, unless `scheduler: false`. */
  readonly scheduler: Scheduler | undefined;
  private readonly tracingEnabled: boolean;
  /** Set once started when tracing is on. */
  private tracing: JobTracing | undefined;
  private ctx: QueueContext | undefined;
  private services: (HeartbeatService | StallReclaimer)[] = [];
  /** Jobs started whose `runJob` has not returned yet (it never rejects). */
  private jobsInFlight = 0;
  private readonly jobsSettled = new WakeableSleep();
  private readonly started: Promise<void>;
  private settler: Settler | undefined;
  private settleLoop: Promise<void> = Promise.resolve();
  /** Set once nothing more will be submitted: the settle loop may end. */
  private settled = false;
  private closing: Promise<void> | undefined;
  private stopping = false;

  constructor(name: string, handler: Handler<Data, Result>, options: WorkerOptions) {
    super();
    assertOptionKeys(options, OPTION_KEYS, 'Worker');
    if (typeof handler !== 'function') throw new InvalidOptionsError('handler', 'must be a function');
    if (options.connection === undefined) throw new InvalidOptionsError('connection', 'is required');
    this.name = name;
    this.handler = handler;
    this.keys = new QueueKeys(options.prefix ?? DEFAULT_PREFIX, name);
    const stallTimeout = positiveDuration('stallTimeout', options.stallTimeout ?? 30_000);
    this.settings = {
      concurrency: positiveInteger('concurrency', options.concurrency ?? 1),
      stallTimeout,
      heartbeatInterval: positiveDuration('heartbeatInterval', options.heartbeatInterval ?? Math.ceil(stallTimeout / 3)),
      maxStalls: positiveInteger('maxStalls', options.maxStalls ?? 3),
      closeTimeout: positiveDuration('closeTimeout', options.closeTimeout ?? 10_000),
      maxResultBytes: positiveInteger('maxResultBytes', options.maxResultBytes ?? DEFAULT_MAX_PAYLOAD_BYTES),
      maxCheckpointBytes: positiveInteger('maxCheckpointBytes', options.maxCheckpointBytes ?? DEFAULT_MAX_PAYLOAD_BYTES),
      maxEvents: positiveInteger('maxEvents', options.maxEvents ?? DEFAULT_MAX_EVENTS),
      blockTimeout: positiveDuration('blockTimeout', options.blockTimeout ?? DEFAULT_BLOCK_TIMEOUT_MS),
    };
    if (this.settings.heartbeatInterval >= stallTimeout) {
      throw new InvalidOptionsError('heartbeatInterval', 'must be shorter than stallTimeout');
    }
    const tiers = options.tiers === undefined ? undefined : validateTiers(options.tiers);
    const schedulerOptions = validateSchedulerOption(options.scheduler);
    if (options.connectTimeout !== undefined) positiveInteger('connectTimeout', options.connectTimeout);
    this.tracingEnabled = tracingEnabled(options.tracing);
    this.consumer = nanoid(12);
    this.logger = resolveLogger(options.logger, 'streamjobs:worker');
    // commands and notices go over this process's shared connections; a blocking read holds one of its own
    this.connection = RedisConnection.shared(options.connection, options.connectTimeout);
    this.blocking = this.connection.duplicate(`streamjobs:worker:${name}:${this.consumer}:blocking`);
    this.cancelListener = new CancelListener(
      RedisConnection.shared(options.connection, options.connectTimeout, 'notices'),
      this.keys.cancelChannel,
      this.running,
      this.logger,
    );
    if (schedulerOptions) {
      this.scheduler = new Scheduler({
        ...schedulerOptions,
        connection: options.connection,
        queues: [name],
        prefix: this.keys.prefix,
        logger: this.logger,
        ...(options.connectTimeout === undefined ? {} : { connectTimeout: options.connectTimeout }),
      });
      this.scheduler.on('error', (err) => this.reportError(err));
    }
    this.running.onSlotFreed(() => {
      this.slotFreed.wake();
      this.settler?.nudge();
    });
    this.started = this.start(tiers);
    // A start that cannot succeed (tiers disagree with the queue's) is reported, not left unhandled.
    this.started.catch((err: Error) => this.reportError(err));
  }

  /** Resolves once the worker is connected and taking jobs; rejects if it could not start. */
  waitUntilReady(): Promise<void> {
    return this.started;
  }

  /** Jobs running now. */
  get activeCount(): number {
    return this.running.size;
  }

  private async start(tiers: string[] | undefined): Promise<void> {
    for (let wait = 200; ; wait = Math.min(wait * 2, 5_000)) {
      if (this.stopping) return;
      try {
        if (this.tracingEnabled) this.tracing = await loadTracing();
        const inForce = await initQueue(this.connection, this.keys, tiers);
        await this.cancelListener.start();
        this.ctx = { connection: this.connection, keys: this.keys, tiers: inForce, maxEvents: this.settings.maxEvents };
        break;
      } catch (err) {
        if (err instanceof InvalidOptionsError) throw err;
        this.reportError(err as Error);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
    const onError = (err: Error) => this.reportError(err);
    const { stallTimeout, maxStalls, heartbeatInterval } = this.settings;
    this.services = [
      new HeartbeatService(this.ctx, this.consumer, this.running, heartbeatInterval, onError),
      new StallReclaimer(
        this.ctx,
        this.consumer,
        { stallTimeout, maxStalls },
        (result) => this.emit('reclaimed', result),
        Math.max(100, Math.floor(stallTimeout / 2)),
        onError,
      ),
    ];
    for (const service of this.services) service.start();
    this.settler = new Settler(this.ctx, this.blocking, this.consumer, this.running, {
      concurrency: this.settings.concurrency,
      blockMs: this.settings.blockTimeout,
      retryWindowMs: stallTimeout,
    });
    this.settleLoop = this.settleJobs();
  }

  /** The loop of `settle` rounds: outcomes recorded, jobs claimed for free slots. */
  private async settleJobs(): Promise<void> {
    const ctx = this.ctx!;
    const runner = new JobRunner(
      ctx,
      this.running,
      this.handler as Handler,
      (job, outcome) => this.settler!.submit(job, outcome),
      {
        consumer: this.consumer,
        maxResultBytes: this.settings.maxResultBytes,
        maxCheckpointBytes: this.settings.maxCheckpointBytes,
      },
    );
    await this.settler!.run(
      (fetched) => void this.runJob(runner, fetched),
      { fetching: () => !this.stopping, done: () => this.settled },
      (err) => this.reportError(err),
    );
  }

  private async runJob(runner: JobRunner, fetched: FetchedJob): Promise<void> {
    this.jobsInFlight++;
    const running = this.running.add(fetched);
    try {
      const job = decodeJob(fetched.id, fetched.record, this.ctx!.tiers);
      job.checkpoint = fromJson(fetched.saved.state) ?? null;
      this.cancelListener.catchUp(fetched.id);
      const stallError = fetched.record.stallError; // stalled too often: failed without running
      if (stallError === undefined) this.emit('active', job);
      // a span only when tracing is on; untraced attempts run as they are
      const { reply, result, error } = this.tracing
        ? await this.tracing.runAttempt(tracedAttempt(this.name, job, fetched), () => runner.run(job, running, fetched.saved, stallError))
        : await runner.run(job, running, fetched.saved, stallError);
      if (reply === 'completed') {
        if (this.listenerCount('completed') > 0) this.emit('completed', completedCopy(job, result), result);
      } else if (reply === 'retrying') this.emit('retrying', { ...job, attemptsMade: job.attemptsMade + 1 }, error!);
      else if (reply === 'failed') this.emit('failed', { ...job, state: 'failed', attemptsMade: job.attemptsMade + 1 }, error!);
      else if (reply === 'canceled') this.emit('canceled', { ...job, state: 'canceled' }, asCanceled(error));
      else this.emit('lost', job);
    } catch (err) {
      this.reportError(err as Error);
    } finally {
      this.running.release(fetched.id);
      if (--this.jobsInFlight === 0) this.jobsSettled.wake();
    }
  }

  /** Until every started job's outcome is recorded (or given up on). */
  private async waitForJobsInFlight(): Promise<void> {
    // claimed jobs about to start count: they start, run and settle like the others
    while (this.jobsInFlight > 0 || (this.settler?.queuedStarts ?? 0) > 0) await this.jobsSettled.untilWoken();
  }

  private reportError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.logger.warn({ err: err.message, code: (err as StreamJobsError).code }, 'worker error');
  }

  /**
   * Stops taking jobs, waits up to `closeTimeout` for running ones, then
   * aborts the rest (their signal's reason says the worker is closing) and
   * hands them back so other workers start them at once. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.stopping = true;
    this.settler?.nudge();
    await this.started.catch(() => undefined);
    // ends an idle read at once; what the claim behind it took still runs
    await this.settler?.stopBlocking(STOP_BLOCKING_TIMEOUT_MS).catch((err: Error) => this.reportError(err));
    this.blocking.close();
    await this.waitForRunning(this.settings.closeTimeout); // their outcomes are still recorded
    const unfinished = this.running.owned();
    if (unfinished.length > 0 && this.ctx) {
      for (const job of unfinished) {
        this.running.markLost(job.id, new StreamJobsError('ERR_WORKER_CLOSING', 'worker is closing; job handed back'));
      }
      try {
        await handBack(this.ctx, this.consumer, unfinished);
      } catch (err) {
        this.reportError(err as Error); // their entries go idle and are reclaimed after stallTimeout
      }
    }
    await Promise.all(this.services.map((service) => service.stop()));
    this.cancelListener.stop();
    await this.waitForJobsInFlight();
    this.settled = true;
    this.settler?.nudge();
    await this.settleLoop;
    this.settler?.close();
    await this.scheduler?.close();
    this.connection.close();
    this.emit('closed');
  }

  private async waitForRunning(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.running.size + (this.settler?.queuedStarts ?? 0) > 0 && Date.now() < deadline) {
      await this.slotFreed.sleep(Math.min(100, deadline - Date.now()));
    }
  }
}

/** An idle worker's reads: each costs a claim (a dozen commands in Redis), so they are long (ms). */
const DEFAULT_BLOCK_TIMEOUT_MS = 60_000;

/** How long closing waits for an idle read's claim to reply before it drops the connection (ms). */
const STOP_BLOCKING_TIMEOUT_MS = 2_000;

/** The job as the `completed` event shows it; like a stored job, it has no `result` key when there is none. */
function completedCopy(job: Job, result: unknown): Job {
  const completed: Job = { ...job, state: 'completed' };
  if (result !== undefined) completed.result = result;
  return completed;
}

function tracedAttempt(queue: string, job: Job, fetched: FetchedJob): TracedAttempt {
  return { queue, jobId: job.id, jobName: job.name, priority: job.priority, attempt: job.attempt, trace: fetched.record.trace };
}

function asCanceled(error: Error | undefined): JobCanceledError {
  return error instanceof JobCanceledError ? error : new JobCanceledError(error?.message ?? '');
}

/** `scheduler`: true/undefined (defaults), false (none), or `{ lockTtl?, pollInterval? }`. */
function validateSchedulerOption(value: unknown): Pick<SchedulerOptions, 'lockTtl' | 'pollInterval'> | undefined {
  if (value === false) return undefined;
  if (value === undefined || value === true) return {};
  if (typeof value !== 'object' || value === null) {
    throw new InvalidOptionsError('scheduler', 'must be a boolean or { lockTtl?, pollInterval? }');
  }
  assertOptionKeys(value, SCHEDULER_OPTION_KEYS, 'embedded scheduler');
  return value as Pick<SchedulerOptions, 'lockTtl' | 'pollInterval'>;
}

const SCHEDULER_OPTION_KEYS = new Set(['lockTtl', 'pollInterval']);
