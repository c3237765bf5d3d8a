// Pure unit tests (no Redis): the schedule maths of semantics 5 (DESIGN.md) and
// issue 4. Every function under test is a pure function of a spec and instants
// (epoch ms), so the "clock" is just the instants passed in: no fake timers.
import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_MAX_CATCH_UP,
  ROUND_CHUNK,
  countOccurrences,
  firstOccurrence,
  nextOccurrence,
  normalizeSpec,
  occurrencesFrom,
  planRound,
  type NormalizedSpec,
  type RoundPlan,
  type ScheduleSpec,
  type ScheduleState,
} from '@streamjobs/core';
import { expectInvalid } from './support/expect-invalid.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Epoch ms of an ISO instant. */
const at = (iso: string): number => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad test instant ${iso}`);
  return ms;
};
const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

/** The fixed "definition time" of most schedules below. */
const t0 = at('2026-01-01T00:00:00Z');

const spec = (s: ScheduleSpec): NormalizedSpec => normalizeSpec(s);

/** All occurrences strictly after `after` up to `until` inclusive (no cap worth the name). */
function enumerate(s: NormalizedSpec, anchor: number, after: number, until: number, max = 1_000_000): number[] {
  const first = nextOccurrence(s, anchor, after);
  if (first === undefined) return [];
  return occurrencesFrom(s, anchor, first, until, max).times;
}

function diffs(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]!);
}

describe('normalizeSpec', () => {
  describe('rejects', () => {
    it('a spec that is not an object', () => {
      for (const bad of [null, undefined, 'every minute', 42, [], [{ every: 1000 }]]) {
        expectInvalid(() => normalizeSpec(bad), 'spec', /object/);
      }
    });

    it('both or neither of cron and every', () => {
      expectInvalid(() => normalizeSpec({ cron: '* * * * *', every: 1000 }), 'spec', /exactly one of cron or every/);
      expectInvalid(() => normalizeSpec({}), 'spec', /exactly one of cron or every/);
      expectInvalid(() => normalizeSpec({ catchUp: 'all', limit: 3 }), 'spec', /exactly one of cron or every/);
    });

    it('unknown keys, naming the key', () => {
      expectInvalid(() => normalizeSpec({ every: 1000, foo: 1 }), 'spec.foo', /not a schedule option/);
      expectInvalid(() => normalizeSpec({ cron: '* * * * *', timezone: 'UTC' }), 'spec.timezone', /not a schedule option/);
      expectInvalid(() => normalizeSpec({ every: 1000, catchup: 'none' }), 'spec.catchup');
    });

    it('cron expressions with the wrong number of fields', () => {
      expectInvalid(() => normalizeSpec({ cron: '* * * *' }), 'spec.cron', /5 fields.*got 4/);
      expectInvalid(() => normalizeSpec({ cron: '*' }), 'spec.cron', /got 1/);
      expectInvalid(() => normalizeSpec({ cron: '* * * * * * *' }), 'spec.cron', /got 7/);
    });

    it('cron expressions that are garbage or not strings', () => {
      expectInvalid(() => normalizeSpec({ cron: 'garbage here x y z' }), 'spec.cron', /"garbage here x y z" is not a valid cron expression/);
      expectInvalid(() => normalizeSpec({ cron: 'every minute please ok now' }), 'spec.cron', /not a valid cron expression/);
      expectInvalid(() => normalizeSpec({ cron: '@nonsense' }), 'spec.cron', /not a valid cron expression/);
      expectInvalid(() => normalizeSpec({ cron: '*/0 * * * *' }), 'spec.cron', /not a valid cron expression/);
      expectInvalid(() => normalizeSpec({ cron: '5-1 * * * *' }), 'spec.cron', /not a valid cron expression/);
      expectInvalid(() => normalizeSpec({ cron: '' }), 'spec.cron', /cron expression string/);
      expectInvalid(() => normalizeSpec({ cron: '   ' }), 'spec.cron', /cron expression string/);
      expectInvalid(() => normalizeSpec({ cron: 5 }), 'spec.cron', /cron expression string/);
    });

    it('cron fields out of range, in 5- and 6-field forms', () => {
      const cases: Array<[string, RegExp]> = [
        ['61 * * * *', /61.*0-59/], // minute
        ['0 24 * * *', /24.*0-23/], // hour
        ['0 0 32 * *', /32.*1-31/], // day of month
        ['0 0 * 13 *', /13.*1-12/], // month
        ['0 0 * * 8', /8.*0-7/], // day of week
        ['60 * * * * *', /60.*0-59/], // second
        ['0 60 * * * *', /60.*0-59/], // minute, 6 fields
        ['0 0 25 * * *', /25.*0-23/], // hour, 6 fields
      ];
      for (const [cron, message] of cases) {
        const error = expectInvalid(() => normalizeSpec({ cron }), 'spec.cron', message);
        expect(error.message).toContain(JSON.stringify(cron));
      }
    });

    it('a cron expression that can never fire', () => {
      expectInvalid(() => normalizeSpec({ cron: '0 0 30 2 *' }), 'spec.cron', /not a valid cron expression/);
    });

    it('an unknown time zone, naming the zone (not cron-parser\'s "Invalid Date")', () => {
      for (const tz of ['Mars/Phobos', 'Europe/Atlantis', 'Europe/Berlin ', '+01:00']) {
        const error = expectInvalid(() => normalizeSpec({ cron: '0 * * * *', tz }), 'spec.tz');
        expect(error.message).toContain(tz);
        expect(error.message).toMatch(/unknown time zone/);
        expect(error.message).not.toMatch(/Invalid Date/);
      }
      expectInvalid(() => normalizeSpec({ cron: '0 * * * *', tz: '' }), 'spec.tz', /IANA/);
      expectInvalid(() => normalizeSpec({ cron: '0 * * * *', tz: 1 }), 'spec.tz', /IANA/);
    });

    it('tz with every', () => {
      expectInvalid(() => normalizeSpec({ every: 1000, tz: 'UTC' }), 'spec.tz', /cron schedules only/);
      expectInvalid(() => normalizeSpec({ every: 1000, tz: 'Europe/Berlin' }), 'spec.tz', /cron schedules only/);
    });

    it('every that is not an integer > 0', () => {
      for (const every of [0, -1, -1000, 1.5, 999.9, Number.NaN, Number.POSITIVE_INFINITY, '1000', null, true]) {
        expectInvalid(() => normalizeSpec({ every }), 'spec.every', /integer > 0/);
      }
    });

    it('bad startAt and endAt', () => {
      for (const bad of [new Date('not a date'), Number.NaN, -1, Number.POSITIVE_INFINITY, '2026-01-01', null, {}]) {
        expectInvalid(() => normalizeSpec({ every: 1000, startAt: bad }), 'spec.startAt', /valid Date or epoch milliseconds/);
        expectInvalid(() => normalizeSpec({ cron: '* * * * *', endAt: bad }), 'spec.endAt', /valid Date or epoch milliseconds/);
      }
    });

    it('endAt before startAt', () => {
      expectInvalid(() => normalizeSpec({ every: 1000, startAt: t0 + 1, endAt: t0 }), 'spec.endAt', /before startAt/);
      expectInvalid(
        () => normalizeSpec({ cron: '* * * * *', startAt: new Date(t0 + DAY), endAt: new Date(t0) }),
        'spec.endAt',
        /before startAt/,
      );
    });

    it('a limit that is not an integer > 0', () => {
      for (const limit of [0, -1, 2.5, '3', Number.NaN]) {
        expectInvalid(() => normalizeSpec({ every: 1000, limit }), 'spec.limit', /integer > 0/);
      }
    });

    it('bad catchUp and overlap policies, listing the allowed values', () => {
      for (const catchUp of ['some', 'ALL', '', 1]) {
        expectInvalid(() => normalizeSpec({ every: 1000, catchUp }), 'spec.catchUp', /all, latest, none/);
      }
      for (const overlap of ['queue', 'Skip', '', false]) {
        expectInvalid(() => normalizeSpec({ cron: '* * * * *', overlap }), 'spec.overlap', /allow, skip, buffer/);
      }
    });

    it('maxCatchUp negative, fractional or above 10,000', () => {
      for (const maxCatchUp of [-1, 1.5, '5', Number.NaN]) {
        expectInvalid(() => normalizeSpec({ every: 1000, maxCatchUp }), 'spec.maxCatchUp', /integer >= 0/);
      }
      expectInvalid(() => normalizeSpec({ every: 1000, maxCatchUp: 10_001 }), 'spec.maxCatchUp', /at most 10000/);
      expectInvalid(() => normalizeSpec({ every: 1000, maxCatchUp: 1e9 }), 'spec.maxCatchUp', /at most 10000/);
    });
  });

  describe('accepts', () => {
    it('an every spec, with the defaults filled in and no tz', () => {
      expect(normalizeSpec({ every: 1000 })).toEqual({ every: 1000, catchUp: 'all', maxCatchUp: 100, overlap: 'allow' });
      expect(DEFAULT_MAX_CATCH_UP).toBe(100);
    });

    it('a cron spec, defaulting tz to UTC and trimming the expression', () => {
      expect(normalizeSpec({ cron: '  */5 * * * *  ' })).toEqual({
        cron: '*/5 * * * *',
        tz: 'UTC',
        catchUp: 'all',
        maxCatchUp: 100,
        overlap: 'allow',
      });
      expect(normalizeSpec({ cron: '*/10 * * * * *', tz: 'Europe/Berlin' })).toMatchObject({ cron: '*/10 * * * * *', tz: 'Europe/Berlin' });
      expect(normalizeSpec({ cron: '@daily' })).toMatchObject({ cron: '@daily', tz: 'UTC' });
    });

    it('every option given explicitly, with Dates turned into epoch ms', () => {
      expect(
        normalizeSpec({
          every: 60_000,
          startAt: new Date(t0),
          endAt: t0 + DAY,
          limit: 10,
          catchUp: 'latest',
          maxCatchUp: 10_000,
          overlap: 'buffer',
        }),
      ).toEqual({ every: 60_000, startAt: t0, endAt: t0 + DAY, limit: 10, catchUp: 'latest', maxCatchUp: 10_000, overlap: 'buffer' });
      expect(normalizeSpec({ cron: '* * * * *', catchUp: 'none', overlap: 'skip', maxCatchUp: 0 })).toMatchObject({
        catchUp: 'none',
        overlap: 'skip',
        maxCatchUp: 0,
      });
    });

    it('endAt equal to startAt', () => {
      expect(normalizeSpec({ every: 1000, startAt: t0, endAt: t0 })).toMatchObject({ startAt: t0, endAt: t0 });
    });
  });
});

describe('nextOccurrence', () => {
  describe('every', () => {
    const s = spec({ every: 1000 });

    it('is anchored at the definition time: the first run is anchor + every, never the anchor itself', () => {
      expect(nextOccurrence(s, t0, t0)).toBe(t0 + 1000);
      expect(nextOccurrence(s, t0, t0 + 1)).toBe(t0 + 1000);
      expect(nextOccurrence(s, t0, t0 + 999)).toBe(t0 + 1000);
      expect(nextOccurrence(s, t0, t0 + 1000)).toBe(t0 + 2000); // strictly after
      expect(nextOccurrence(s, t0, t0 + 5500)).toBe(t0 + 6000);
      // the grid follows the anchor, not round numbers
      expect(nextOccurrence(s, t0 + 123, t0 + 5000)).toBe(t0 + 5123);
    });

    it('starts AT startAt when startAt is in the future, then every interval', () => {
      const withStart = spec({ every: 1000, startAt: t0 + 5000 });
      expect(nextOccurrence(withStart, t0, t0)).toBe(t0 + 5000);
      expect(nextOccurrence(withStart, t0, t0 + 4999)).toBe(t0 + 5000);
      expect(nextOccurrence(withStart, t0, t0 + 5000)).toBe(t0 + 6000);
      expect(firstOccurrence(withStart, t0)).toBe(t0 + 5000);
    });

    it('keeps the startAt grid when startAt is in the past', () => {
      const pastStart = spec({ every: 1000, startAt: t0 - 2500 });
      expect(nextOccurrence(pastStart, t0, t0)).toBe(t0 + 500);
      expect(nextOccurrence(pastStart, t0, t0 + 500)).toBe(t0 + 1500);
    });

    it('stops at endAt (inclusive)', () => {
      const bounded = spec({ every: 1000, endAt: t0 + 3000 });
      expect(nextOccurrence(bounded, t0, t0 + 2000)).toBe(t0 + 3000);
      expect(nextOccurrence(bounded, t0, t0 + 3000)).toBeUndefined();
      const offGrid = spec({ every: 1000, endAt: t0 + 3500 });
      expect(nextOccurrence(offGrid, t0, t0 + 3000)).toBeUndefined();
      expect(nextOccurrence(spec({ every: 1000, endAt: t0 - 1 }), t0, t0)).toBeUndefined();
    });
  });

  describe('cron', () => {
    it('5 fields (minute first), strictly after the instant', () => {
      const s = spec({ cron: '*/5 * * * *' });
      expect(iso(nextOccurrence(s, 0, at('2026-01-01T00:02:30Z')))).toBe('2026-01-01T00:05:00.000Z');
      expect(iso(nextOccurrence(s, 0, at('2026-01-01T00:05:00Z')))).toBe('2026-01-01T00:10:00.000Z');
      expect(iso(nextOccurrence(s, 0, at('2026-01-01T00:04:59.999Z')))).toBe('2026-01-01T00:05:00.000Z');
      const hourly = spec({ cron: '0 * * * *' });
      expect(iso(nextOccurrence(hourly, 0, at('2026-01-01T00:59:59.999Z')))).toBe('2026-01-01T01:00:00.000Z');
    });

    it('6 fields (seconds first), with millisecond instants', () => {
      const s = spec({ cron: '*/10 * * * * *' });
      expect(iso(nextOccurrence(s, 0, at('2026-01-01T00:00:05.500Z')))).toBe('2026-01-01T00:00:10.000Z');
      expect(iso(nextOccurrence(s, 0, at('2026-01-01T00:00:10.000Z')))).toBe('2026-01-01T00:00:20.000Z');
      const everySecond = spec({ cron: '* * * * * *' });
      expect(iso(nextOccurrence(everySecond, 0, at('2026-01-01T00:00:10.999Z')))).toBe('2026-01-01T00:00:11.000Z');
    });

    it('ignores the anchor (cron occurrences are absolute)', () => {
      const s = spec({ cron: '0 * * * *' });
      expect(nextOccurrence(s, t0, t0 + 10)).toBe(nextOccurrence(s, t0 - 12_345, t0 + 10));
    });

    it('in a time zone', () => {
      const ny = spec({ cron: '0 9 * * *', tz: 'America/New_York' });
      expect(iso(nextOccurrence(ny, 0, at('2026-01-10T00:00:00Z')))).toBe('2026-01-10T14:00:00.000Z'); // EST
      expect(iso(nextOccurrence(ny, 0, at('2026-07-10T00:00:00Z')))).toBe('2026-07-10T13:00:00.000Z'); // EDT
      const kolkata = spec({ cron: '0 9 * * *', tz: 'Asia/Kolkata' });
      expect(iso(nextOccurrence(kolkata, 0, at('2026-01-10T00:00:00Z')))).toBe('2026-01-10T03:30:00.000Z');
      const berlin = spec({ cron: '0 0 9 * * 1', tz: 'Europe/Berlin' }); // Mondays 09:00:00 local
      expect(iso(nextOccurrence(berlin, 0, at('2026-01-01T00:00:00Z')))).toBe('2026-01-05T08:00:00.000Z');
      expect(iso(nextOccurrence(spec({ cron: '0 9 * * *' }), 0, at('2026-01-10T00:00:00Z')))).toBe('2026-01-10T09:00:00.000Z'); // UTC
    });

    it('respects startAt (first run at startAt when it matches) and endAt', () => {
      const start = at('2026-01-01T00:00:10Z');
      const s = spec({ cron: '* * * * * *', startAt: start, endAt: at('2026-01-01T00:00:12Z') });
      expect(nextOccurrence(s, 0, t0)).toBe(start);
      expect(nextOccurrence(s, 0, start)).toBe(start + 1000);
      expect(nextOccurrence(s, 0, start + 1000)).toBe(start + 2000);
      expect(nextOccurrence(s, 0, start + 2000)).toBeUndefined();
      const midSecond = spec({ cron: '* * * * * *', startAt: at('2026-01-01T00:00:10.400Z') });
      expect(iso(nextOccurrence(midSecond, 0, t0))).toBe('2026-01-01T00:00:11.000Z');
    });
  });

  describe('across DST changes (the behaviour documented in occurrences.ts)', () => {
    const berlinDaily0230 = spec({ cron: '0 30 2 * * *', tz: 'Europe/Berlin' });

    it('spring forward (Europe/Berlin 2026-03-29, 02:00→03:00): a daily 02:30 runs once, at 03:30 local (01:30Z)', () => {
      const times = enumerate(berlinDaily0230, 0, at('2026-03-27T12:00:00Z'), at('2026-03-31T12:00:00Z'));
      expect(times.map(iso)).toEqual([
        '2026-03-28T01:30:00.000Z', // 02:30 CET
        '2026-03-29T01:30:00.000Z', // 02:30 does not exist: 03:30 CEST
        '2026-03-30T00:30:00.000Z', // 02:30 CEST
        '2026-03-31T00:30:00.000Z',
      ]);
      // the same with 5 fields
      expect(enumerate(spec({ cron: '30 2 * * *', tz: 'Europe/Berlin' }), 0, at('2026-03-27T12:00:00Z'), at('2026-03-31T12:00:00Z'))).toEqual(times);
    });

    it('fall back (Europe/Berlin 2026-10-25, 03:00→02:00): a daily 02:30 runs once', () => {
      const times = enumerate(berlinDaily0230, 0, at('2026-10-23T12:00:00Z'), at('2026-10-27T12:00:00Z'));
      expect(times.map(iso)).toEqual([
        '2026-10-24T00:30:00.000Z', // 02:30 CEST
        '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST); the repeated one (01:30Z, CET) does not run
        '2026-10-26T01:30:00.000Z', // 02:30 CET
        '2026-10-27T01:30:00.000Z',
      ]);
      const onTheDay = times.filter((t) => t >= at('2026-10-24T22:00:00Z') && t < at('2026-10-25T23:00:00Z'));
      expect(onTheDay).toHaveLength(1);
    });

    it('the same in America/New_York (2026-03-08 and 2026-11-01)', () => {
      const s = spec({ cron: '30 2 * * *', tz: 'America/New_York' });
      expect(enumerate(s, 0, at('2026-03-07T12:00:00Z'), at('2026-03-09T12:00:00Z')).map(iso)).toEqual([
        '2026-03-08T07:30:00.000Z', // 02:30 does not exist: 03:30 EDT
        '2026-03-09T06:30:00.000Z',
      ]);
      const hourOneThirty = spec({ cron: '30 1 * * *', tz: 'America/New_York' }); // 01:30 repeats on 2026-11-01
      expect(enumerate(hourOneThirty, 0, at('2026-10-31T12:00:00Z'), at('2026-11-02T12:00:00Z')).map(iso)).toEqual([
        '2026-11-01T05:30:00.000Z', // first 01:30 (EDT) only
        '2026-11-02T06:30:00.000Z',
      ]);
    });

    it('a */15 seconds schedule across the spring-forward hour: no duplicate, no gap in UTC', () => {
      const s = spec({ cron: '*/15 * * * * *', tz: 'Europe/Berlin' });
      const from = at('2026-03-29T00:00:00Z');
      const until = at('2026-03-29T02:00:00Z'); // 01:00 CET … 04:00 CEST, across 02:00→03:00 at 01:00Z
      const times = enumerate(s, 0, from - 1, until);
      expect(times[0]).toBe(from);
      expect(times[times.length - 1]).toBe(until);
      expect(times).toHaveLength((2 * HOUR) / (15 * SECOND) + 1);
      expect(new Set(diffs(times))).toEqual(new Set([15 * SECOND]));
      expect(countOccurrences(s, 0, from, until, Number.MAX_SAFE_INTEGER)).toBe(times.length);
    });

    it('a */15 seconds schedule across the fall-back hour: no duplicate, no gap in UTC', () => {
      const s = spec({ cron: '*/15 * * * * *', tz: 'Europe/Berlin' });
      const from = at('2026-10-24T23:30:00Z');
      const until = at('2026-10-25T01:30:00Z'); // the repeated hour is 00:00Z–01:00Z (CEST) / 01:00Z–02:00Z (CET)
      const times = enumerate(s, 0, from - 1, until);
      expect(times).toHaveLength((2 * HOUR) / (15 * SECOND) + 1);
      expect(new Set(diffs(times))).toEqual(new Set([15 * SECOND]));
    });

    it('an hourly schedule runs every real hour: 23 runs on the spring-forward day, 25 on the fall-back day', () => {
      const s = spec({ cron: '0 * * * *', tz: 'Europe/Berlin' });
      // local days: 2026-03-29 is 23 h long (from 28T23:00Z), 2026-10-25 is 25 h long (from 24T22:00Z)
      const spring = enumerate(s, 0, at('2026-03-28T22:59:59Z'), at('2026-03-29T21:59:59Z'));
      expect(spring).toHaveLength(23);
      expect(new Set(diffs(spring))).toEqual(new Set([HOUR]));
      const fall = enumerate(s, 0, at('2026-10-24T21:59:59Z'), at('2026-10-25T22:59:59Z'));
      expect(fall).toHaveLength(25);
      expect(new Set(diffs(fall))).toEqual(new Set([HOUR]));
    });
  });
});

describe('occurrencesFrom', () => {
  it('lists occurrences from first to until inclusive, oldest first', () => {
    const s = spec({ every: 1000 });
    expect(occurrencesFrom(s, t0, t0 + 1000, t0 + 4000, 100)).toEqual({
      times: [t0 + 1000, t0 + 2000, t0 + 3000, t0 + 4000],
      more: false,
    });
    expect(occurrencesFrom(s, t0, t0 + 1000, t0 + 999, 100)).toEqual({ times: [], more: false });
  });

  it('stops at max and says there are more', () => {
    const s = spec({ cron: '* * * * * *' });
    expect(occurrencesFrom(s, 0, t0, t0 + 9000, 3)).toEqual({ times: [t0, t0 + 1000, t0 + 2000], more: true });
    // exactly max of them: nothing left out
    expect(occurrencesFrom(s, 0, t0, t0 + 2500, 3)).toEqual({ times: [t0, t0 + 1000, t0 + 2000], more: false });
  });

  it('stops at endAt', () => {
    const s = spec({ every: 1000, endAt: t0 + 3000 });
    expect(occurrencesFrom(s, t0, t0 + 1000, t0 + 60_000, 100)).toEqual({ times: [t0 + 1000, t0 + 2000, t0 + 3000], more: false });
  });
});

describe('countOccurrences', () => {
  it('is arithmetic for every: a month of per-second occurrences counts instantly and exactly', () => {
    const s = spec({ every: 1000 });
    const started = performance.now();
    const count = countOccurrences(s, t0, t0 + 1000, t0 + 30 * DAY, Number.MAX_SAFE_INTEGER);
    expect(performance.now() - started).toBeLessThan(50);
    expect(count).toBe(30 * 24 * 3600);
    expect(countOccurrences(s, t0, t0 + 1000, t0 + 30 * DAY + 999, Number.MAX_SAFE_INTEGER)).toBe(30 * 24 * 3600);
    expect(countOccurrences(s, t0, t0 + 1000, t0 + 30 * DAY, 500)).toBe(500); // cap
    expect(countOccurrences(s, t0, t0 + 1000, t0 + 1000, 10)).toBe(1);
    expect(countOccurrences(s, t0, t0 + 1000, t0 + 999, 10)).toBe(0);
  });

  it('for every honours endAt', () => {
    const s = spec({ every: 1000, endAt: t0 + 10_500 });
    expect(countOccurrences(s, t0, t0 + 1000, t0 + DAY, Number.MAX_SAFE_INTEGER)).toBe(10);
    expect(countOccurrences(s, t0, t0 + 1000, t0 + 4000, Number.MAX_SAFE_INTEGER)).toBe(4);
  });

  it('agrees with enumeration for every', () => {
    const s = spec({ every: 7_000, startAt: t0 + 3_000, endAt: t0 + HOUR });
    for (const until of [t0 + 3_000, t0 + 10_000, t0 + 10 * MINUTE, t0 + 2 * HOUR]) {
      const first = nextOccurrence(s, t0, t0)!;
      expect(countOccurrences(s, t0, first, until, Number.MAX_SAFE_INTEGER)).toBe(occurrencesFrom(s, t0, first, until, 1e6).times.length);
    }
  });

  it('agrees with enumeration for cron, in time zones and across DST', () => {
    const cases: Array<[ScheduleSpec, string, string, number]> = [
      [{ cron: '*/5 * * * *' }, '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', 289], // both ends included
      [{ cron: '0 * * * *', tz: 'Europe/Berlin' }, '2026-10-24T22:00:00Z', '2026-10-25T22:59:59Z', 25],
      [{ cron: '0 30 2 * * *', tz: 'Europe/Berlin' }, '2026-03-01T00:30:00Z', '2026-03-31T23:00:00Z', 31],
      [{ cron: '*/20 * * * * *', tz: 'America/New_York' }, '2026-03-08T06:30:00Z', '2026-03-08T07:30:00Z', 181],
    ];
    for (const [s, fromIso, untilIso, expected] of cases) {
      const n = spec(s);
      const first = nextOccurrence(n, 0, at(fromIso) - 1)!;
      const count = countOccurrences(n, 0, first, at(untilIso), Number.MAX_SAFE_INTEGER);
      expect(count).toBe(expected);
      expect(count).toBe(occurrencesFrom(n, 0, first, at(untilIso), 1e6).times.length);
    }
    const perMinute = spec({ cron: '* * * * *' });
    expect(countOccurrences(perMinute, 0, t0, t0 + DAY, 100)).toBe(100); // cap
    expect(countOccurrences(perMinute, 0, t0 + MINUTE, t0, 100)).toBe(0);
  });
});

describe('firstOccurrence', () => {
  it('of every is one interval after the definition time', () => {
    expect(firstOccurrence(spec({ every: 60_000 }), t0)).toBe(t0 + 60_000);
  });

  it('is startAt when startAt is in the future', () => {
    expect(firstOccurrence(spec({ every: 60_000, startAt: t0 + HOUR }), t0)).toBe(t0 + HOUR);
    expect(firstOccurrence(spec({ cron: '0 * * * *', startAt: t0 + HOUR }), t0)).toBe(t0 + HOUR);
    expect(firstOccurrence(spec({ cron: '0 * * * *', startAt: t0 + HOUR + 1 }), t0)).toBe(t0 + 2 * HOUR);
  });

  it('of cron is the next match strictly after now', () => {
    expect(firstOccurrence(spec({ cron: '0 * * * *' }), t0)).toBe(t0 + HOUR);
    expect(firstOccurrence(spec({ cron: '*/15 * * * * *' }), t0 + 7_000)).toBe(t0 + 15_000);
  });

  it('is undefined when the schedule ended before it was defined', () => {
    expect(firstOccurrence(spec({ every: 1000, endAt: t0 - 1 }), t0)).toBeUndefined();
    expect(firstOccurrence(spec({ cron: '0 * * * *', endAt: t0 + HOUR - 1 }), t0)).toBeUndefined();
  });
});

describe('planRound', () => {
  function state(s: ScheduleSpec, next: number, runs = 0, anchor = t0): ScheduleState {
    return { spec: normalizeSpec(s), anchor, next, runs };
  }
  const range = (from: number, count: number, step = 1000): number[] => Array.from({ length: count }, (_, i) => from + i * step);

  describe('live rounds (afterGap false)', () => {
    it('run the due occurrence and move on to the next', () => {
      expect(planRound(state({ every: 1000 }, t0 + 1000), t0 + 1000, false)).toEqual({
        run: [t0 + 1000],
        missed: 0,
        next: t0 + 2000,
        caughtUp: true,
      });
      expect(planRound(state({ cron: '*/5 * * * * *' }, t0 + 5000), t0 + 5040, false)).toEqual({
        run: [t0 + 5000],
        missed: 0,
        next: t0 + 10_000,
        caughtUp: true,
      });
    });

    it('run all due occurrences whatever the catch-up policy', () => {
      for (const catchUp of ['all', 'latest', 'none'] as const) {
        expect(planRound(state({ every: 1000, catchUp, maxCatchUp: 1 }, t0 + 1000), t0 + 3200, false)).toEqual({
          run: [t0 + 1000, t0 + 2000, t0 + 3000],
          missed: 0,
          next: t0 + 4000,
          caughtUp: true,
        });
        expect(planRound(state({ cron: '* * * * * *', catchUp, maxCatchUp: 1 }, t0 + 1000), t0 + 3200, false)).toEqual({
          run: [t0 + 1000, t0 + 2000, t0 + 3000],
          missed: 0,
          next: t0 + 4000,
          caughtUp: true,
        });
      }
    });

    it('with more due than one round enumerates, leave the rest for another round instead of dropping it', () => {
      // (a live round rarely has this many; the chunk is injectable to show the contract)
      const plan = planRound(state({ cron: '* * * * * *' }, t0), t0 + 9500, false, 5);
      expect(plan.run).toEqual(range(t0, 5));
      expect(plan.missed).toBe(0);
      // t0+5000 … t0+9000 are due and neither run nor counted: they must still be ahead
      expect(plan.caughtUp).toBe(false);
      expect(plan.next).toBe(t0 + 5000);
    });
  });

  describe('after a gap: every 1000 defined at t0, round at t0+5500', () => {
    const now = t0 + 5500;
    // the same schedule as a per-second cron, to check both code paths agree
    const variants: Array<[string, ScheduleSpec]> = [
      ['every', { every: 1000 }],
      ['cron', { cron: '* * * * * *' }],
    ];

    it.each(variants)("catchUp 'all' (%s) runs exactly the 5 missed, oldest first, then continues on time", (_, s) => {
      expect(planRound(state(s, t0 + 1000), now, true)).toEqual({
        run: [t0 + 1000, t0 + 2000, t0 + 3000, t0 + 4000, t0 + 5000],
        missed: 0,
        next: t0 + 6000,
        caughtUp: true,
        backlogUntil: now,
      });
    });

    it.each(variants)("catchUp 'latest' (%s) runs exactly 1, the newest, and counts 4 missed", (_, s) => {
      expect(planRound(state({ ...s, catchUp: 'latest' }, t0 + 1000), now, true)).toEqual({
        run: [t0 + 5000],
        missed: 4,
        next: t0 + 6000,
        caughtUp: true,
        backlogUntil: now,
      });
    });

    it.each(variants)("catchUp 'none' (%s) runs 0 and counts 5 missed", (_, s) => {
      expect(planRound(state({ ...s, catchUp: 'none' }, t0 + 1000), now, true)).toEqual({
        run: [],
        missed: 5,
        next: t0 + 6000,
        caughtUp: true,
        backlogUntil: now,
      });
    });

    it.each(variants)('maxCatchUp 3 after 10 missed (%s): the newest 3 run, oldest first, 7 missed', (_, s) => {
      expect(planRound(state({ ...s, maxCatchUp: 3 }, t0 + 1000), t0 + 10_500, true)).toEqual({
        run: [t0 + 8000, t0 + 9000, t0 + 10_000],
        missed: 7,
        next: t0 + 11_000,
        caughtUp: true,
        backlogUntil: t0 + 10_500,
      });
    });

    it.each(variants)('maxCatchUp 0 with catchUp all (%s) runs nothing and counts all missed', (_, s) => {
      expect(planRound(state({ ...s, maxCatchUp: 0 }, t0 + 1000), now, true)).toMatchObject({ run: [], missed: 5, next: t0 + 6000 });
    });
  });

  describe('after a long outage', () => {
    it('of a per-second every schedule (a month): at most maxCatchUp runs, the rest counted missed exactly, quickly', () => {
      const total = 30 * 24 * 3600;
      const now = t0 + 30 * DAY + 500;
      const started = performance.now();
      const plan = planRound(state({ every: 1000 }, t0 + 1000), now, true);
      const latest = planRound(state({ every: 1000, catchUp: 'latest' }, t0 + 1000), now, true);
      const none = planRound(state({ every: 1000, catchUp: 'none' }, t0 + 1000), now, true);
      const big = planRound(state({ every: 1000, maxCatchUp: 10_000 }, t0 + 1000), now, true);
      expect(performance.now() - started).toBeLessThan(100);

      expect(plan.run).toEqual(range(t0 + 30 * DAY - 99_000, 100)); // the newest 100, oldest first
      expect(plan.missed).toBe(total - 100);
      expect(plan).toMatchObject({ next: t0 + 30 * DAY + 1000, caughtUp: true });
      expect(latest).toEqual({ run: [t0 + 30 * DAY], missed: total - 1, next: t0 + 30 * DAY + 1000, caughtUp: true, backlogUntil: now });
      expect(none).toEqual({ run: [], missed: total, next: t0 + 30 * DAY + 1000, caughtUp: true, backlogUntil: now });
      expect(big.run).toHaveLength(10_000);
      expect(big.missed).toBe(total - 10_000);
    });

    /**
     * Runs rounds at a fixed `now` until caught up, like the leader does
     * (`again`): only the first round follows the gap; the later ones come
     * right after it and know the backlog from the stored `backlogUntil`.
     */
    function catchUp(s: ScheduleSpec, next: number, now: number, chunk?: number) {
      let st = state(s, next);
      const plans: RoundPlan[] = [];
      for (let round = 0; round < 100; round++) {
        const plan = planRound(st, now, round === 0, chunk);
        plans.push(plan);
        if (plan.caughtUp) break;
        expect(plan.next).toBeDefined();
        expect(plan.backlogUntil).toBe(now);
        st = { ...st, next: plan.next!, runs: st.runs + plan.run.length, backlogUntil: plan.backlogUntil! };
      }
      const run = plans.flatMap((p) => p.run);
      const missed = plans.reduce((sum, p) => sum + p.missed, 0);
      return { plans, run, missed, last: plans[plans.length - 1]! };
    }

    it('of a per-second cron schedule: works the backlog off in chunks and ends caught up with missed + run == total', () => {
      // 3 hours without a leader: 10,800 occurrences, over one round's chunk
      const total = 3 * 3600;
      const now = t0 + (total - 1) * 1000 + 500;
      const { plans, run, missed, last } = catchUp({ cron: '* * * * * *' }, t0, now);
      expect(plans.length).toBeGreaterThan(1);
      const first = plans[0]!;
      expect(first).toEqual({ run: [], missed: ROUND_CHUNK, next: t0 + ROUND_CHUNK * 1000, caughtUp: false, backlogUntil: now });
      expect(last.caughtUp).toBe(true);
      expect(last.next).toBe(t0 + total * 1000);
      expect(missed + run.length).toBe(total);
      expect(run).toEqual(range(t0 + (total - 100) * 1000, 100)); // the newest maxCatchUp, oldest first
    });

    it('of a per-second cron schedule with catchUp latest / none, in chunks', () => {
      const total = 1_250;
      const now = t0 + (total - 1) * 1000 + 500;
      const latest = catchUp({ cron: '* * * * * *', catchUp: 'latest' }, t0, now, 500);
      expect(latest.plans).toHaveLength(3);
      expect(latest.plans.slice(0, -1).every((p) => p.run.length === 0 && p.missed === 500 && !p.caughtUp)).toBe(true);
      expect(latest.run).toEqual([now - 500]);
      expect(latest.missed).toBe(total - 1);
      expect(latest.last).toMatchObject({ caughtUp: true, next: now + 500 });
      const none = catchUp({ cron: '* * * * * *', catchUp: 'none' }, t0, now, 500);
      expect(none.run).toEqual([]);
      expect(none.missed).toBe(total);
      expect(none.last).toMatchObject({ caughtUp: true, next: now + 500 });
    });

    it('of a per-second cron schedule whose last chunk holds fewer than maxCatchUp: still the newest maxCatchUp run', () => {
      // 10,050 occurrences (2 h 47 min 30 s): one full chunk, then 50. catchUp 'all' with maxCatchUp 100
      // promises the newest 100 (as the every path and an unchunked round give), not 50.
      const total = ROUND_CHUNK + 50;
      const now = t0 + (total - 1) * 1000 + 500;
      const { run, missed, last } = catchUp({ cron: '* * * * * *' }, t0, now);
      expect(missed + run.length).toBe(total);
      expect(last).toMatchObject({ caughtUp: true, next: t0 + total * 1000 });
      expect(run).toHaveLength(100);
      expect(run).toEqual(range(t0 + (total - 100) * 1000, 100));
      expect(missed).toBe(total - 100);
    });

    it('chunked and unchunked rounds plan the same runs (small chunks)', () => {
      for (const total of [23, 25, 30, 95]) {
        const now = t0 + (total - 1) * 1000 + 500;
        const whole = planRound(state({ cron: '* * * * * *', maxCatchUp: 10 }, t0), now, true);
        const chunked = catchUp({ cron: '* * * * * *', maxCatchUp: 10 }, t0, now, 10);
        expect({ total, run: chunked.run, missed: chunked.missed, next: chunked.last.next }).toEqual({
          total,
          run: whole.run,
          missed: whole.missed,
          next: whole.next,
        });
      }
    });
  });

  describe('limit and endAt', () => {
    it('limit ends the schedule once reached in live rounds', () => {
      const s = { every: 1000, limit: 3 };
      expect(planRound(state(s, t0 + 1000, 0), t0 + 1000, false)).toEqual({ run: [t0 + 1000], missed: 0, next: t0 + 2000, caughtUp: true });
      expect(planRound(state(s, t0 + 2000, 1), t0 + 2000, false)).toEqual({ run: [t0 + 2000], missed: 0, next: t0 + 3000, caughtUp: true });
      expect(planRound(state(s, t0 + 3000, 2), t0 + 3000, false)).toEqual({ run: [t0 + 3000], missed: 0, next: undefined, caughtUp: true });
    });

    it('limit truncates a round (live or catch-up) and ends the schedule', () => {
      const live = planRound(state({ cron: '* * * * * *', limit: 3 }, t0 + 1000, 1), t0 + 5500, false);
      expect(live.run).toEqual([t0 + 1000, t0 + 2000]);
      expect(live.next).toBeUndefined();
      const gap = planRound(state({ every: 1000, limit: 3 }, t0 + 1000, 0), t0 + 10_500, true);
      expect(gap.run).toEqual([t0 + 1000, t0 + 2000, t0 + 3000]);
      expect(gap.next).toBeUndefined();
      // limit counts runs, not occurrences passed over by the policy
      const bounded = planRound(state({ every: 1000, limit: 3, maxCatchUp: 5 }, t0 + 1000, 0), t0 + 10_500, true);
      expect(bounded).toMatchObject({ run: [t0 + 6000, t0 + 7000, t0 + 8000], missed: 5, next: undefined });
      const latest = planRound(state({ every: 1000, limit: 3, catchUp: 'latest' }, t0 + 1000, 0), t0 + 10_500, true);
      expect(latest).toMatchObject({ run: [t0 + 10_000], missed: 9, next: t0 + 11_000 });
    });

    it('endAt ends the schedule, live and after a gap', () => {
      for (const s of [{ every: 1000, endAt: t0 + 3000 }, { cron: '* * * * * *', endAt: t0 + 3000 }]) {
        expect(planRound(state(s, t0 + 3000), t0 + 3000, false)).toEqual({ run: [t0 + 3000], missed: 0, next: undefined, caughtUp: true });
        expect(planRound(state(s, t0 + 1000), t0 + 10_500, true)).toEqual({
          run: [t0 + 1000, t0 + 2000, t0 + 3000],
          missed: 0,
          next: undefined,
          caughtUp: true,
          backlogUntil: t0 + 10_500,
        });
        expect(planRound(state({ ...s, catchUp: 'latest' }, t0 + 1000), t0 + 10_500, true)).toEqual({
          run: [t0 + 3000],
          missed: 2,
          next: undefined,
          caughtUp: true,
          backlogUntil: t0 + 10_500,
        });
      }
    });
  });

  describe('across DST', () => {
    it('a daily 02:30 Europe/Berlin caught up inside the repeated hour of a fall-back day does not run twice that day', () => {
      // It ran at 00:30Z (02:30 CEST) in no one's watch; the round comes at 01:10Z (02:10 CET, the repeated hour).
      const s = { cron: '0 30 2 * * *', tz: 'Europe/Berlin' };
      for (const afterGap of [true, false]) {
        const plan = planRound(state(s, at('2026-10-25T00:30:00Z')), at('2026-10-25T01:10:00Z'), afterGap);
        expect(plan.run.map(iso)).toEqual(['2026-10-25T00:30:00.000Z']);
        // not 2026-10-25T01:30Z (02:30 CET, the repeated local time)
        expect(iso(plan.next)).toBe('2026-10-26T01:30:00.000Z');
      }
    });

    it('a daily 02:30 Europe/Berlin on the spring-forward day runs once at 01:30Z and then tomorrow', () => {
      const s = { cron: '0 30 2 * * *', tz: 'Europe/Berlin' };
      const plan = planRound(state(s, at('2026-03-29T01:30:00Z')), at('2026-03-29T01:30:00.050Z'), false);
      expect(plan.run.map(iso)).toEqual(['2026-03-29T01:30:00.000Z']);
      expect(iso(plan.next)).toBe('2026-03-30T00:30:00.000Z');
    });

    it('a */15 seconds Europe/Berlin schedule caught up across the spring-forward hour: every UTC slot once', () => {
      const s = { cron: '*/15 * * * * *', tz: 'Europe/Berlin', maxCatchUp: 10_000 };
      const from = at('2026-03-29T00:30:00Z');
      const now = at('2026-03-29T01:30:00Z');
      const plan = planRound(state(s, from), now, true);
      expect(plan.missed).toBe(0);
      expect(plan.run).toEqual(range(from, 241, 15_000));
      expect(plan.next).toBe(now + 15_000);
    });
  });
});
