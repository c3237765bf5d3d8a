import { countOccurrences, nextOccurrence, occurrencesFrom } from './occurrences.js';
import type { NormalizedSpec } from './spec.js';

/** Most occurrences one round enumerates; a longer backlog is worked off over several rounds. */
export const ROUND_CHUNK = 10_000;

export interface ScheduleState {
  spec: NormalizedSpec;
  /** When the schedule was (re)defined: the origin of `every` without `startAt`. */
  anchor: number;
  /** Nominal time of the next occurrence not yet handled. */
  next: number;
  /** Runs materialised so far (what `limit` counts). */
  runs: number;
  /**
   * End of the backlog being worked off: occurrences up to here passed while
   * no leader watched. Kept across rounds, so a backlog worked off over
   * several rounds stays a backlog.
   */
  backlogUntil?: number;
}

export interface RoundPlan {
  /** Nominal times to materialise now, oldest first. */
  run: number[];
  /** Occurrences passed over for good by the catch-up policy or its bound. */
  missed: number;
  /** Next occurrence to wait for; undefined when the schedule has ended. */
  next: number | undefined;
  /** False when more is due at once (a backlog or a burst longer than one round). */
  caughtUp: boolean;
  /** The backlog's end to remember for the next rounds (absent when there is none). */
  backlogUntil?: number;
}

/**
 * What one leader round does with a due schedule at `now`. `afterGap` says
 * whether the leader's previous round is too long ago: then every occurrence
 * up to `now` passed while no leader watched, a backlog, and the catch-up
 * policy decides which of them run (`all`: the newest `maxCatchUp`, oldest
 * first; `latest`: the newest one; `none`: none); the rest count as missed.
 * Occurrences after the backlog are live and all run. A round enumerates at
 * most `chunk` occurrences; a longer backlog is worked off over several
 * rounds (`caughtUp` false) with the same outcome as one round. `limit` ends
 * the schedule once reached.
 */
export function planRound(state: ScheduleState, now: number, afterGap: boolean, chunk = ROUND_CHUNK): RoundPlan {
  const { spec, anchor } = state;
  const backlogUntil = afterGap ? now : Math.min(state.backlogUntil ?? -Infinity, now);
  const run: number[] = [];
  let missed = 0;
  let cursor: number | undefined = state.next;
  if (cursor <= backlogUntil) {
    const backlog = workOffBacklog(spec, anchor, cursor, backlogUntil, chunk);
    run.push(...backlog.run);
    missed = backlog.missed;
    cursor = backlog.next;
    if (!backlog.done) return limited(state, { run, missed, next: cursor, caughtUp: false, backlogUntil });
  }
  let caughtUp = true;
  if (cursor !== undefined && cursor <= now) {
    const live = occurrencesFrom(spec, anchor, cursor, now, Math.max(1, chunk - run.length));
    run.push(...live.times);
    cursor = nextOccurrence(spec, anchor, live.times[live.times.length - 1]!);
    caughtUp = !live.more;
  }
  return limited(state, { run, missed, next: cursor, caughtUp, backlogUntil });
}

/** The backlog `[first, until]`: which occurrences run, how many are missed, where to go on. */
function workOffBacklog(
  spec: NormalizedSpec,
  anchor: number,
  first: number,
  until: number,
  chunk: number,
): { run: number[]; missed: number; next: number | undefined; done: boolean } {
  const keep = keepCount(spec);
  if (spec.every !== undefined) {
    // arithmetic: a month of a per-second schedule costs nothing
    const total = countOccurrences(spec, anchor, first, until, Number.MAX_SAFE_INTEGER);
    const kept = Math.min(total, keep);
    const newest = first + (total - 1) * spec.every;
    const run = Array.from({ length: kept }, (_, i) => newest - (kept - 1 - i) * spec.every!);
    return { run, missed: total - kept, next: nextOccurrence(spec, anchor, newest), done: true };
  }
  const { times, more } = occurrencesFrom(spec, anchor, first, until, chunk);
  const last = times[times.length - 1]!;
  const next = nextOccurrence(spec, anchor, last);
  // the newest `keep` of the whole backlog run: those of this chunk that are among them
  const after = more && next !== undefined ? countOccurrences(spec, anchor, next, until, keep) : 0;
  const kept = Math.min(times.length, Math.max(0, keep - after));
  return { run: times.slice(times.length - kept), missed: times.length - kept, next, done: !more };
}

function limited(state: ScheduleState, withBacklog: RoundPlan): RoundPlan {
  const { backlogUntil, ...rest } = withBacklog;
  const plan: RoundPlan = backlogUntil !== undefined && Number.isFinite(backlogUntil) ? withBacklog : rest;
  const { limit } = state.spec;
  if (limit === undefined || state.runs + plan.run.length < limit) return plan;
  return { ...plan, run: plan.run.slice(0, Math.max(0, limit - state.runs)), next: undefined, caughtUp: true };
}

function keepCount(spec: NormalizedSpec): number {
  if (spec.catchUp === 'none') return 0;
  if (spec.catchUp === 'latest') return 1;
  return spec.maxCatchUp;
}

/** The first occurrence of a schedule defined (or redefined) at `now`. */
export function firstOccurrence(spec: NormalizedSpec, now: number): number | undefined {
  return nextOccurrence(spec, now, now);
}
