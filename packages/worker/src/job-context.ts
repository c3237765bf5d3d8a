import {
  JobCanceledError,
  LeaseLostError,
  InvalidOptionsError,
  fromJson,
  saveState,
  toJson,
  type JobRecord,
  type QueueContext,
  type SavedState,
} from '@streamjobs/core';
import type { RunningJob, RunningJobs } from './running-jobs.js';
import type { JobContext } from './types.js';

/** What every attempt's context of one worker shares. */
export interface JobContextDeps {
  ctx: QueueContext;
  consumer: string;
  jobs: RunningJobs;
  maxCheckpointBytes: number;
}

type ContextMethods = Pick<JobContext, 'checkpoint' | 'step' | 'progress'>;

/**
 * What a handler uses to save its progress through a job: checkpoints, steps
 * and progress reports, each written by one fenced script. Once the worker
 * has lost the job (or it was canceled) every call rejects, with
 * `LeaseLostError` (or `JobCanceledError`), and the signal aborts.
 *
 * One is made per attempt, and most handlers never touch it: the methods are
 * made (bound, so handlers may destructure them) on first access only.
 */
export class AttemptContext implements JobContext {
  private methods: ContextMethods | undefined;
  /** Saved step results by name, read from the checkpoint hash on first use. */
  private steps: Map<string, string> | undefined;

  constructor(
    private readonly deps: JobContextDeps,
    private readonly running: RunningJob,
    /** The job's checkpoint hash as fetched: `state` and `step:<name>` fields. */
    private readonly saved: JobRecord,
  ) {}

  get signal(): AbortSignal {
    return this.running.signal;
  }

  get checkpoint(): JobContext['checkpoint'] {
    return (this.methods ??= this.bindMethods()).checkpoint;
  }

  get step(): JobContext['step'] {
    return (this.methods ??= this.bindMethods()).step;
  }

  get progress(): JobContext['progress'] {
    return (this.methods ??= this.bindMethods()).progress;
  }

  private bindMethods(): ContextMethods {
    const { maxCheckpointBytes } = this.deps;
    return {
      checkpoint: async (state) => {
        await this.save({ what: 'checkpoint', json: toJson('checkpoint state', state, maxCheckpointBytes) });
      },
      step: async (name, fn) => {
        if (typeof name !== 'string' || name.length === 0 || name.length > 512) {
          throw new InvalidOptionsError('step name', 'must be a string of 1 to 512 characters');
        }
        assertOwned(this.running);
        const steps = (this.steps ??= savedSteps(this.saved));
        if (steps.has(name)) return fromJson(steps.get(name)) as Awaited<ReturnType<typeof fn>>;
        const result = await fn();
        const json = result === undefined ? '' : toJson(`result of step "${name}"`, result, maxCheckpointBytes);
        await this.save({ what: 'step', name, json });
        steps.set(name, json);
        return result;
      },
      progress: async (value) => {
        await this.save({ what: 'progress', json: toJson('progress', value, maxCheckpointBytes) });
      },
    };
  }

  private async save(state: SavedState): Promise<void> {
    const { running, deps } = this;
    assertOwned(running);
    const reply = await saveState(deps.ctx, deps.consumer, running, state);
    if (reply === 'lost') {
      deps.jobs.markLost(running.id);
      throw new LeaseLostError(running.id);
    }
    if (reply === 'canceled') {
      deps.jobs.markCanceled(running.id, new JobCanceledError());
      throw running.canceled ?? new JobCanceledError();
    }
  }
}

function savedSteps(saved: JobRecord): Map<string, string> {
  const steps = new Map<string, string>();
  for (const field in saved) {
    if (field.startsWith('step:')) steps.set(field.slice('step:'.length), saved[field]!);
  }
  return steps;
}

function assertOwned(running: RunningJob): void {
  if (running.canceled) throw running.canceled;
  if (running.lost) throw new LeaseLostError(running.id);
}
