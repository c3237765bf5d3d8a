import type { JobRecord } from '../job/codec.js';
import type { NormalizedSpec } from './spec.js';

/** What each run of a schedule is: its job's name, data and options. */
export interface ScheduleTemplate<Data = unknown> {
  name: string;
  data?: Data;
  /** Job options but those naming one job (jobId, delay, runAt). */
  opts?: {
    priority?: string | number;
    attempts?: number;
    backoff?: import('../job/types.js').BackoffOptions | number;
    timeout?: number;
    removeOnComplete?: import('../job/types.js').RetentionOptions;
    removeOnFail?: import('../job/types.js').RetentionOptions;
  };
}

/** The template as stored: what the materialise script copies into each job. */
export interface StoredTemplate {
  name: string;
  /** JSON of the data. */
  data: string;
  /** JSON of the stored job options. */
  opts: string;
  tier: number;
}

/** A schedule as `queue.schedules()` shows it. */
export interface ScheduleInfo {
  id: string;
  spec: NormalizedSpec;
  template: { name: string; data: unknown; opts: unknown; priority: number };
  /** Nominal time of the next occurrence; undefined once the schedule has ended. */
  nextRunAt?: number;
  /** Nominal time of the last occurrence materialised. */
  lastRunAt?: number;
  /** Runs materialised so far. */
  runs: number;
  /** Occurrences passed over by the catch-up policy or `maxCatchUp`. */
  missed: number;
  /** Occurrences skipped by `overlap: 'skip'`. */
  skipped: number;
  paused: boolean;
  /** Reached `limit` or `endAt`: no further runs. */
  ended: boolean;
  /** End of the backlog of missed occurrences the leader last worked off (ms). */
  backlogUntil?: number;
  version: string;
  /** When the current definition took effect: the origin of `every` without `startAt`. */
  anchor: number;
  createdAt: number;
  updatedAt: number;
}

export function decodeSchedule(id: string, record: JobRecord): ScheduleInfo {
  const template = JSON.parse(record.template ?? '{}') as StoredTemplate;
  const info: ScheduleInfo = {
    id,
    spec: JSON.parse(record.spec ?? '{}') as NormalizedSpec,
    template: {
      name: template.name,
      data: JSON.parse(template.data ?? 'null'),
      opts: JSON.parse(template.opts ?? '{}'),
      priority: template.tier,
    },
    runs: Number(record.runs ?? 0),
    missed: Number(record.missed ?? 0),
    skipped: Number(record.skipped ?? 0),
    paused: record.paused === '1',
    ended: record.ended === '1',
    version: record.version ?? '0',
    anchor: Number(record.anchor ?? 0),
    createdAt: Number(record.createdAt ?? 0),
    updatedAt: Number(record.updatedAt ?? 0),
  };
  if (record.next !== undefined && record.ended !== '1') info.nextRunAt = Number(record.next);
  if (record.last !== undefined) info.lastRunAt = Number(record.last);
  if (record.backlogUntil !== undefined) info.backlogUntil = Number(record.backlogUntil);
  return info;
}
