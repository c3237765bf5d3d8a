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

export interface JobContextDeps {
  ctx: QueueContext;
  consumer: string;
  running: RunningJob;
  jobs: RunningJobs;
  /** The job's checkpoint hash as fetched: `state` and `step:<name>` fields. */
  saved: JobRecord;
  maxCheckpointBytes: number;
}

/**
 * What a handler uses to save its progress through a job: checkpoints, steps
 * and progress reports, each written by one fenced script. Once the worker
 * has lost the job (or it was canceled) every call rejects, with
 * `LeaseLostError` (or `JobCanceledError`), and the signal aborts.
 */
export function createJobContext(deps: JobContextDeps): JobContext {
  const { running } = deps;
  const steps = new Map<string, string>();
  for (const [field, value] of Object.entries(deps.saved)) {
    if (field.startsWith('step:')) steps.set(field.slice('step:'.length), value);
  }

  async function save(state: SavedState): Promise<void> {
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

  return {
    get signal() {
      return running.signal;
    },
    async checkpoint(state) {
      await save({ what: 'checkpoint', json: toJson('checkpoint state', state, deps.maxCheckpointBytes) });
    },
    async step(name, fn) {
      if (typeof name !== 'string' || name.length === 0 || name.length > 512) {
        throw new InvalidOptionsError('step name', 'must be a string of 1 to 512 characters');
      }
      assertOwned(running);
      if (steps.has(name)) return fromJson(steps.get(name)) as Awaited<ReturnType<typeof fn>>;
      const result = await fn();
      const json = result === undefined ? '' : toJson(`result of step "${name}"`, result, deps.maxCheckpointBytes);
      await save({ what: 'step', name, json });
      steps.set(name, json);
      return result;
    },
    async progress(value) {
      await save({ what: 'progress', json: toJson('progress', value, deps.maxCheckpointBytes) });
    },
  };
}

function assertOwned(running: RunningJob): void {
  if (running.canceled) throw running.canceled;
  if (running.lost) throw new LeaseLostError(running.id);
}
