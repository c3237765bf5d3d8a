import { CronExpressionParser } from 'cron-parser';
import type { NormalizedSpec } from './spec.js';

/**
 * Schedule maths: pure functions of a spec and instants (epoch ms), no clock
 * of their own, so they are tested without Redis or waiting.
 *
 * Occurrences of `every` are `anchor + k·every` (k ≥ 0), where the anchor is
 * `startAt`, or else the instant the schedule was defined; an occurrence is
 * only ever strictly after the instant it is looked for from, so a schedule
 * defined at t first runs at t + every. Cron occurrences are those of the
 * expression in its time zone: on a DST spring-forward day a fixed local time
 * that does not exist runs once, at the shifted time (02:30 becomes 03:30 in
 * Europe/Berlin); on a fall-back day a fixed local time in the repeated hour
 * runs once. Hourly and finer schedules follow real time: 23 hourly runs on
 * the spring-forward day, 25 on the fall-back day, no gap and no duplicate.
 */

/** The first occurrence strictly after `after`, or undefined when the spec has none left. */
export function nextOccurrence(spec: NormalizedSpec, anchor: number, after: number): number | undefined {
  const from = Math.max(after, (spec.startAt ?? -Infinity) - 1);
  let next: number;
  if (spec.every !== undefined) {
    const origin = spec.startAt ?? anchor;
    const k = from < origin ? 0 : Math.floor((from - origin) / spec.every) + 1;
    next = origin + k * spec.every;
  } else {
    const expression = CronExpressionParser.parse(spec.cron!, { tz: spec.tz ?? 'UTC', currentDate: new Date(from) });
    next = expression.next().getTime();
  }
  if (spec.endAt !== undefined && next > spec.endAt) return undefined;
  return next;
}

/**
 * Occurrences from `first` (an occurrence) up to `until` inclusive, at most
 * `max` of them, oldest first; `more` says whether some were left out. (The
 * anchor is implied by `first`; the parameter keeps the signatures alike.)
 */
export function occurrencesFrom(
  spec: NormalizedSpec,
  _anchor: number,
  first: number,
  until: number,
  max: number,
): { times: number[]; more: boolean } {
  const times: number[] = [];
  const next = stepper(spec, first);
  for (let at: number | undefined = first; at !== undefined && at <= until; at = next()) {
    if (times.length === max) return { times, more: true };
    times.push(at);
  }
  return { times, more: false };
}

/** Successive occurrences after `from` (an occurrence), parsing a cron expression once. */
function stepper(spec: NormalizedSpec, from: number): () => number | undefined {
  if (spec.every !== undefined) {
    let at = from;
    return () => {
      at = at + spec.every!;
      return spec.endAt !== undefined && at > spec.endAt ? undefined : at;
    };
  }
  const expression = CronExpressionParser.parse(spec.cron!, { tz: spec.tz ?? 'UTC', currentDate: new Date(from) });
  return () => {
    const at = expression.next().getTime();
    return spec.endAt !== undefined && at > spec.endAt ? undefined : at;
  };
}

/** How many occurrences lie in `[first, until]`, counting at most `cap`. Arithmetic for `every`. */
export function countOccurrences(spec: NormalizedSpec, anchor: number, first: number, until: number, cap: number): number {
  if (first > until) return 0;
  if (spec.every !== undefined) {
    const last = spec.endAt === undefined ? until : Math.min(until, spec.endAt);
    return last < first ? 0 : Math.min(cap, Math.floor((last - first) / spec.every) + 1);
  }
  return occurrencesFrom(spec, anchor, first, until, cap).times.length;
}
