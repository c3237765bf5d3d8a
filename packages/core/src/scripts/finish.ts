import { CONSUMER_GROUP } from '../keys.js';
import { retentionArgs } from '../job/retention.js';
import type { RetentionOptions } from '../job/types.js';
import type { QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('finish', import.meta.url);

/** The running job an outcome is recorded for, as its worker knows it. */
export interface HeldJob {
  id: string;
  tier: number;
  entryId: string;
}

export type AttemptOutcome =
  | { outcome: 'completed'; resultJson: string; retention?: RetentionOptions }
  /** The handler canceled its own job. */
  | { outcome: 'canceled'; reason: string; by?: string }
  | {
      outcome: 'failed';
      error: string;
      stack: string;
      /** Epoch ms of the retry, 0 for at once, or undefined when this failure is final. */
      retryAt?: number;
      retention?: RetentionOptions;
    };

export type FinishReply = 'completed' | 'retrying' | 'failed' | 'canceled' | 'lost';

/** Records an attempt's outcome if `consumer` still owns the job. */
export async function finishJob(
  ctx: QueueContext,
  consumer: string,
  job: HeldJob,
  outcome: AttemptOutcome,
): Promise<FinishReply> {
  const [keepCount, keepAge] = retentionArgs('retention' in outcome ? outcome.retention : undefined);
  const failed = outcome.outcome === 'failed';
  const value = failed ? outcome.error : outcome.outcome === 'canceled' ? outcome.reason : outcome.resultJson;
  return script.run<FinishReply>(ctx.connection, [ctx.keys.job(job.id), ctx.keys.lane(job.tier)], [
    ctx.keys.base,
    CONSUMER_GROUP,
    consumer,
    job.entryId,
    job.id,
    outcome.outcome,
    value,
    failed ? outcome.stack : outcome.outcome === 'canceled' ? (outcome.by ?? '') : '',
    failed ? (outcome.retryAt ?? -1) : -1,
    keepCount,
    keepAge,
    ctx.maxEvents,
  ]);
}
