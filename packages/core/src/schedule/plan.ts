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
}

export interface RoundPlan {
  /** Nominal times to materialise now, oldest first. */
  run: number[];
  /** Occurrences passed over for good by the catch-up policy or its bound. */
  missed: number;
  /** Next occurrence to wait for; undefined when the schedule has ended. */
  next: number | undefined;
  /** False when a backlog remains to be worked off at once, in another round. */
  caughtUp: boolean;
}

/**
 * What one leader round does with a due schedule at `now`. `afterGap` says
 * whether the due occurrences passed while no leader watched (the leader's
 * previous round is too long ago): then the catch-up policy decides which run
 * (`all`: the newest `maxCatchUp`, oldest first; `latest`: the newest one;
 * `none`: none) and the rest count as missed. Otherwise they are live and all
 * run. `limit` ends the schedule once reached.
 */
export function planRound(state: ScheduleState, now: number, afterGap: boolean, chunk = ROUND_CHUNK): RoundPlan {
  const { spec, anchor } = state;
  let run: number[];
  let missed = 0;
  let last: number;
  if (afterGap && spec.every !== undefined) {
    // arithmetic: a month of a per-second schedule costs nothing
    const total = countOccurrences(spec, anchor, state.next, now, Number.MAX_SAFE_INTEGER);
    const keep = Math.min(total, keepCount(spec));
    const newest = state.next + (total - 1) * spec.every;
    run = Array.from({ length: keep }, (_, i) => newest - (keep - 1 - i) * spec.every!);
    missed = total - keep;
    last = newest;
  } else {
    const { times, more } = occurrencesFrom(spec, anchor, state.next, now, chunk);
    last = times[times.length - 1] ?? state.next;
    if (afterGap && more) {
      // older than everything still to come: none of these can be among the newest kept
      const next = nextOccurrence(spec, anchor, last);
      return { run: [], missed: times.length, next, caughtUp: next === undefined };
    }
    const keep = afterGap ? Math.min(times.length, keepCount(spec)) : times.length;
    run = times.slice(times.length - keep);
    missed = times.length - keep;
  }
  let next = nextOccurrence(spec, anchor, Math.max(now, last));
  if (spec.limit !== undefined && state.runs + run.length >= spec.limit) {
    run = run.slice(0, Math.max(0, spec.limit - state.runs));
    next = undefined;
  }
  return { run, missed, next, caughtUp: true };
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
