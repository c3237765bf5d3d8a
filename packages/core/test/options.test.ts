// Pure unit tests (no Redis): job options resolution, backoff and serialisation.
import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_TIERS,
  PayloadTooLargeError,
  SerializationError,
  StreamJobsError,
  backoffDelay,
  fromJson,
  resolveJobOptions,
  resolveTier,
  retentionArgs,
  toJson,
  validateRetention,
  validateTiers,
  type BackoffOptions,
  type JobOptions,
} from '@streamjobs/core';
import { expectInvalid } from './support/expect-invalid.js';

const TIERS = DEFAULT_TIERS;
const NORMAL = 2;

function resolve(opts: unknown, defaults: JobOptions = {}) {
  return resolveJobOptions(opts as JobOptions, defaults, TIERS, NORMAL);
}

function expectThrown<E>(fn: () => unknown, type: new (...args: any[]) => E): E {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(type);
  expect(caught).toBeInstanceOf(StreamJobsError);
  return caught as E;
}

describe('resolveJobOptions', () => {
  it('applies the defaults when no options are given', () => {
    expect(resolve(undefined)).toEqual({ tier: NORMAL, delay: 0, stored: { attempts: 1 } });
    expect(resolve({})).toEqual({ tier: NORMAL, delay: 0, stored: { attempts: 1 } });
  });

  it('resolves priorities by tier name and by index', () => {
    TIERS.forEach((name, index) => {
      expect(resolve({ priority: name }).tier).toBe(index);
      expect(resolve({ priority: index }).tier).toBe(index);
    });
    expect(resolveJobOptions({ priority: 'b' }, {}, ['a', 'b', 'c'], 0).tier).toBe(1);
  });

  it('resolves every option it is given', () => {
    const runAt = new Date(Date.UTC(2030, 0, 1));
    const resolved = resolve({
      priority: 'high',
      runAt,
      jobId: 'welcome:42',
      attempts: 5,
      backoff: { type: 'exponential', delay: 1_000, jitter: 0.5, maxDelay: 60_000 },
      timeout: 60_000,
      removeOnComplete: 10,
      removeOnFail: { age: 3_600_000, count: 100 },
    });
    expect(resolved).toEqual({
      jobId: 'welcome:42',
      tier: 1,
      runAt: runAt.getTime(),
      delay: 0,
      stored: {
        attempts: 5,
        backoff: { type: 'exponential', delay: 1_000, jitter: 0.5, maxDelay: 60_000 },
        timeout: 60_000,
        removeOnComplete: 10,
        removeOnFail: { age: 3_600_000, count: 100 },
      },
    });
  });

  it('takes runAt as epoch ms, and delay in ms', () => {
    expect(resolve({ runAt: 1_700_000_000_000 }).runAt).toBe(1_700_000_000_000);
    expect(resolve({ delay: 5_000 }).delay).toBe(5_000);
    expect(resolve({ delay: 0 }).delay).toBe(0);
  });

  it('turns a numeric backoff into a fixed one', () => {
    expect(resolve({ backoff: 250 }).stored.backoff).toEqual({ type: 'fixed', delay: 250 });
  });

  it('merges job options over the defaults, ignoring undefined values', () => {
    const defaults: JobOptions = { attempts: 3, backoff: 100, priority: 'low', removeOnComplete: true };
    expect(resolve({ attempts: 7, priority: undefined, backoff: undefined }, defaults)).toEqual({
      tier: 3,
      delay: 0,
      stored: { attempts: 7, backoff: { type: 'fixed', delay: 100 }, removeOnComplete: true },
    });
  });

  it('accepts the bounds of every range', () => {
    expect(resolve({ attempts: 1 }).stored.attempts).toBe(1);
    expect(resolve({ attempts: 1_000_000 }).stored.attempts).toBe(1_000_000);
    expect(resolve({ jobId: 'x' }).jobId).toBe('x');
    expect(resolve({ jobId: 'x'.repeat(512) }).jobId).toHaveLength(512);
    expect(resolve({ backoff: { type: 'fixed', delay: 0, jitter: 0 } }).stored.backoff).toEqual({
      type: 'fixed',
      delay: 0,
      jitter: 0,
    });
    expect(resolve({ backoff: { type: 'fixed', delay: 10, jitter: 1 } }).stored.backoff).toMatchObject({ jitter: 1 });
    expect(resolve({ timeout: 1 }).stored.timeout).toBe(1);
    expect(resolve({ removeOnComplete: 0, removeOnFail: false }).stored).toMatchObject({
      removeOnComplete: 0,
      removeOnFail: false,
    });
  });

  it('never changes the objects it is given', () => {
    const opts = { attempts: 2, backoff: { type: 'fixed' as const, delay: 5 } };
    const defaults = { attempts: 3 };
    const before = JSON.stringify([opts, defaults]);
    resolve(opts, defaults);
    expect(JSON.stringify([opts, defaults])).toBe(before);
  });

  describe('rejects, naming the option', () => {
    const cases: [string, unknown, string][] = [
      ['options that are not an object', 'fast', 'opts'],
      ['null options', null, 'opts'],
      ['array options', [], 'opts'],
      ['an unknown key', { priorty: 'high' }, 'priorty'],
      ['an unknown tier name', { priority: 'urgent' }, 'priority'],
      ['an empty tier name', { priority: '' }, 'priority'],
      ['a tier index past the last tier', { priority: 4 }, 'priority'],
      ['a negative tier index', { priority: -1 }, 'priority'],
      ['a fractional tier index', { priority: 1.5 }, 'priority'],
      ['a NaN tier index', { priority: Number.NaN }, 'priority'],
      ['a null priority', { priority: null }, 'priority'],
      ['a negative delay', { delay: -1 }, 'delay'],
      ['a NaN delay', { delay: Number.NaN }, 'delay'],
      ['an infinite delay', { delay: Number.POSITIVE_INFINITY }, 'delay'],
      ['a string delay', { delay: '100' }, 'delay'],
      ['delay and runAt together', { delay: 10, runAt: Date.now() + 1_000 }, 'delay'],
      ['delay 0 and runAt together', { delay: 0, runAt: new Date() }, 'delay'],
      ['an invalid Date as runAt', { runAt: new Date('not a date') }, 'runAt'],
      ['a string runAt', { runAt: '2030-01-01T00:00:00Z' }, 'runAt'],
      ['a negative runAt', { runAt: -1 }, 'runAt'],
      ['a NaN runAt', { runAt: Number.NaN }, 'runAt'],
      ['0 attempts', { attempts: 0 }, 'attempts'],
      ['negative attempts', { attempts: -2 }, 'attempts'],
      ['fractional attempts', { attempts: 1.5 }, 'attempts'],
      ['string attempts', { attempts: '3' }, 'attempts'],
      ['NaN attempts', { attempts: Number.NaN }, 'attempts'],
      ['too many attempts', { attempts: 1_000_001 }, 'attempts'],
      ['a negative numeric backoff', { backoff: -5 }, 'backoff'],
      ['a string backoff', { backoff: 'exponential' }, 'backoff'],
      ['a null backoff', { backoff: null }, 'backoff'],
      ['an unknown backoff type', { backoff: { type: 'linear', delay: 100 } }, 'backoff.type'],
      ['a backoff without type', { backoff: { delay: 100 } }, 'backoff.type'],
      ['a backoff without delay', { backoff: { type: 'fixed' } }, 'backoff.delay'],
      ['a negative backoff delay', { backoff: { type: 'fixed', delay: -1 } }, 'backoff.delay'],
      ['a NaN backoff delay', { backoff: { type: 'exponential', delay: Number.NaN } }, 'backoff.delay'],
      ['a jitter over 1', { backoff: { type: 'fixed', delay: 100, jitter: 1.5 } }, 'backoff.jitter'],
      ['a negative jitter', { backoff: { type: 'fixed', delay: 100, jitter: -0.1 } }, 'backoff.jitter'],
      ['a NaN jitter', { backoff: { type: 'fixed', delay: 100, jitter: Number.NaN } }, 'backoff.jitter'],
      ['a string jitter', { backoff: { type: 'fixed', delay: 100, jitter: '0.5' } }, 'backoff.jitter'],
      ['maxDelay on a fixed backoff', { backoff: { type: 'fixed', delay: 100, maxDelay: 1_000 } }, 'backoff.maxDelay'],
      ['a negative maxDelay', { backoff: { type: 'exponential', delay: 100, maxDelay: -1 } }, 'backoff.maxDelay'],
      ['an unknown backoff key', { backoff: { type: 'fixed', delay: 100, factor: 3 } }, 'backoff.factor'],
      ['a zero timeout', { timeout: 0 }, 'timeout'],
      ['a negative timeout', { timeout: -100 }, 'timeout'],
      ['a fractional timeout', { timeout: 1.5 }, 'timeout'],
      ['an infinite timeout', { timeout: Number.POSITIVE_INFINITY }, 'timeout'],
      ['a string timeout', { timeout: '1000' }, 'timeout'],
      ['a negative retention count', { removeOnComplete: -1 }, 'removeOnComplete'],
      ['a fractional retention count', { removeOnComplete: 1.5 }, 'removeOnComplete'],
      ['a string retention', { removeOnFail: 'yes' }, 'removeOnFail'],
      ['an array retention', { removeOnFail: [1] }, 'removeOnFail'],
      ['an empty retention object', { removeOnComplete: {} }, 'removeOnComplete'],
      ['a negative retention age', { removeOnComplete: { age: -1 } }, 'removeOnComplete.age'],
      ['a fractional retention count in an object', { removeOnFail: { count: 2.5 } }, 'removeOnFail.count'],
      ['an unknown retention key', { removeOnComplete: { count: 1, ttl: 5 } }, 'removeOnComplete.ttl'],
      ['an empty jobId', { jobId: '' }, 'jobId'],
      ['a jobId over 512 characters', { jobId: 'x'.repeat(513) }, 'jobId'],
      ['a numeric jobId', { jobId: 42 }, 'jobId'],
    ];
    it.each(cases)('%s', (_label, opts, option) => {
      expectInvalid(() => resolve(opts), option);
    });

    it('bad defaults as well as bad options', () => {
      expectInvalid(() => resolve({}, { attempts: 0 }), 'attempts');
      expectInvalid(() => resolve({ priority: 'low' }, { backoff: { type: 'nope' } as never }), 'backoff.type');
    });
  });
});

describe('resolveTier and validateTiers', () => {
  it('resolves names and indexes of custom tiers', () => {
    expect(resolveTier('slow', ['fast', 'slow'])).toBe(1);
    expect(resolveTier(0, ['fast', 'slow'])).toBe(0);
    expectInvalid(() => resolveTier(2, ['fast', 'slow']), 'priority');
    expectInvalid(() => resolveTier('normal', ['fast', 'slow'], 'defaultPriority'), 'defaultPriority');
  });

  it('accepts 1 to 16 distinct non-empty names', () => {
    expect(validateTiers(['only'])).toEqual(['only']);
    const sixteen = Array.from({ length: 16 }, (_, i) => `t${i}`);
    expect(validateTiers(sixteen)).toEqual(sixteen);
    expectInvalid(() => validateTiers([]), 'tiers');
    expectInvalid(() => validateTiers([...sixteen, 't16']), 'tiers');
    expectInvalid(() => validateTiers(['a', 'a']), 'tiers');
    expectInvalid(() => validateTiers(['a', '']), 'tiers');
    expectInvalid(() => validateTiers(['a', 1]), 'tiers');
    expectInvalid(() => validateTiers('a,b'), 'tiers');
  });
});

describe('retention', () => {
  it('maps retention options to the finish script arguments', () => {
    expect(retentionArgs(undefined)).toEqual([-1, -1]);
    expect(retentionArgs(false)).toEqual([-1, -1]);
    expect(retentionArgs(true)).toEqual([0, -1]);
    expect(retentionArgs(0)).toEqual([0, -1]);
    expect(retentionArgs(5)).toEqual([5, -1]);
    expect(retentionArgs({ age: 1_000 })).toEqual([-1, 1_000]);
    expect(retentionArgs({ count: 3 })).toEqual([3, -1]);
    expect(retentionArgs({ age: 1_000, count: 3 })).toEqual([3, 1_000]);
  });

  it('validates retention values', () => {
    expect(validateRetention('removeOnComplete', { age: 0 })).toEqual({ age: 0 });
    expectInvalid(() => validateRetention('removeOnComplete', null), 'removeOnComplete');
    expectInvalid(() => validateRetention('removeOnComplete', Number.NaN), 'removeOnComplete');
  });
});

describe('backoffDelay', () => {
  it('is 0 without a backoff', () => {
    expect(backoffDelay(undefined, 1)).toBe(0);
    expect(backoffDelay(undefined, 10)).toBe(0);
  });

  it('waits the same for every attempt with a fixed backoff', () => {
    const fixed: BackoffOptions = { type: 'fixed', delay: 300 };
    for (let attemptsMade = 1; attemptsMade <= 10; attemptsMade++) expect(backoffDelay(fixed, attemptsMade)).toBe(300);
  });

  it('doubles with an exponential backoff, starting from the delay after the first failure', () => {
    const exponential: BackoffOptions = { type: 'exponential', delay: 100 };
    expect([1, 2, 3, 4, 5].map((made) => backoffDelay(exponential, made))).toEqual([100, 200, 400, 800, 1_600]);
  });

  it('caps an exponential backoff at maxDelay', () => {
    const capped: BackoffOptions = { type: 'exponential', delay: 100, maxDelay: 500 };
    expect([1, 2, 3, 4, 5, 50].map((made) => backoffDelay(capped, made))).toEqual([100, 200, 400, 500, 500, 500]);
  });

  it('stays a finite, non-negative number for any attempt count the options allow', () => {
    const bad: unknown[] = [];
    for (const backoff of [
      { type: 'exponential', delay: 1_000 },
      { type: 'exponential', delay: 0 },
      { type: 'exponential', delay: 0, maxDelay: 10 },
      { type: 'fixed', delay: 0 },
    ] as BackoffOptions[]) {
      for (const made of [1, 60, 1_100, 999_999]) {
        const delay = backoffDelay(backoff, made, () => 0.5);
        if (!(Number.isFinite(delay) && delay >= 0)) bad.push({ backoff, attemptsMade: made, delay });
      }
    }
    expect(bad).toEqual([]);
    expect(backoffDelay({ type: 'exponential', delay: 0 }, 2_000)).toBe(0);
  });

  it('spreads jitter over [delay * (1 - jitter), delay]', () => {
    const fixed: BackoffOptions = { type: 'fixed', delay: 1_000, jitter: 0.4 };
    expect(backoffDelay(fixed, 1, () => 0)).toBe(1_000);
    expect(backoffDelay(fixed, 1, () => 0.5)).toBe(800);
    expect(backoffDelay(fixed, 1, () => 0.999_999)).toBe(600);
    const exponential: BackoffOptions = { type: 'exponential', delay: 1_000, jitter: 0.5 };
    expect(backoffDelay(exponential, 3, () => 0)).toBe(4_000);
    expect(backoffDelay(exponential, 3, () => 0.5)).toBe(3_000);
    // With the real random source, every value stays within the bounds.
    for (let i = 0; i < 1_000; i++) {
      const delay = backoffDelay(fixed, 1);
      expect(delay).toBeGreaterThanOrEqual(600);
      expect(delay).toBeLessThanOrEqual(1_000);
    }
  });

  it('applies jitter after the maxDelay cap, and jitter 1 may go down to 0', () => {
    const capped: BackoffOptions = { type: 'exponential', delay: 100, maxDelay: 500, jitter: 0.2 };
    expect(backoffDelay(capped, 10, () => 0)).toBe(500);
    expect(backoffDelay(capped, 10, () => 0.999_999)).toBe(400);
    expect(backoffDelay({ type: 'fixed', delay: 100, jitter: 1 }, 1, () => 0.999_999)).toBe(0);
  });

  it('does not depend on the random source when there is no jitter', () => {
    for (const r of [0, 0.5, 0.999_999]) {
      expect(backoffDelay({ type: 'fixed', delay: 100 }, 1, () => r)).toBe(100);
      expect(backoffDelay({ type: 'exponential', delay: 100 }, 2, () => r)).toBe(200);
    }
  });
});

describe('toJson', () => {
  const MAX = 1024 * 1024;

  it('encodes JSON values as JSON.stringify does', () => {
    const values: unknown[] = [
      null,
      0,
      -1.5,
      'text',
      '',
      true,
      [],
      {},
      [1, 'two', null, { three: [3] }],
      { nested: { deep: { list: [true, false] } }, unicode: 'é✓🚀' },
    ];
    for (const value of values) expect(toJson('job data', value, MAX)).toBe(JSON.stringify(value));
  });

  it('accepts Dates and other values with toJSON, and objects without a prototype', () => {
    const date = new Date(Date.UTC(2030, 0, 1));
    expect(toJson('job data', { at: date }, MAX)).toBe('{"at":"2030-01-01T00:00:00.000Z"}');
    expect(toJson('job data', { custom: { toJSON: () => 'x' } }, MAX)).toBe('{"custom":"x"}');
    const bare = Object.create(null) as Record<string, unknown>;
    bare.a = 1;
    expect(toJson('job data', bare, MAX)).toBe('{"a":1}');
  });

  it('drops undefined object properties, as JSON does', () => {
    expect(toJson('job data', { a: 1, b: undefined }, MAX)).toBe('{"a":1}');
  });

  it('accepts the same object reached twice when it is not a cycle', () => {
    const shared = { x: 1 };
    expect(toJson('job data', { a: shared, b: [shared, shared] }, MAX)).toBe('{"a":{"x":1},"b":[{"x":1},{"x":1}]}');
  });

  describe('rejects what JSON would drop or change, with a SerializationError', () => {
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    const deepCycle: Record<string, unknown> = { list: [] };
    (deepCycle.list as unknown[]).push({ back: deepCycle });
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    const cases: [string, unknown][] = [
      ['undefined at the top level', undefined],
      ['a function', () => 1],
      ['a function property', { run: () => 1 }],
      ['a symbol', Symbol('s')],
      ['a symbol property', { s: Symbol('s') }],
      ['a bigint', 10n],
      ['a bigint in an array', [1n]],
      ['NaN', Number.NaN],
      ['NaN nested', { n: Number.NaN }],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['-Infinity in an array', [Number.NEGATIVE_INFINITY]],
      ['undefined in an array', [1, undefined]],
      ['a cycle', cycle],
      ['a cycle through an array', deepCycle],
      ['a Map', new Map([['a', 1]])],
      ['a Set', new Set([1])],
      ['a Map property', { m: new Map() }],
      ['a class instance', new Point(1, 2)],
    ];
    it.each(cases)('%s', (_label, value) => {
      const error = expectThrown(() => toJson('job data', value, MAX), SerializationError);
      expect((error as SerializationError).code).toBe('ERR_NOT_SERIALIZABLE');
      expect((error as SerializationError).message).toContain('job data');
    });

    it('says where the bad value is', () => {
      const error = expectThrown(() => toJson('job data', { a: [1, { b: Number.NaN }] }, MAX), SerializationError);
      expect(error.message).toContain('$.a[1].b');
    });
  });

  it('accepts a payload of exactly the limit and rejects one byte more, counting UTF-8 bytes', () => {
    const exact = 'x'.repeat(98); // '"' + 98 + '"' = 100 bytes
    expect(toJson('job data', exact, 100)).toBe(JSON.stringify(exact));
    const over = expectThrown(() => toJson('job data', `${exact}x`, 100), PayloadTooLargeError);
    expect(over.code).toBe('ERR_PAYLOAD_TOO_LARGE');
    expect(over.size).toBe(101);
    expect(over.limit).toBe(100);
    // 'é' is one UTF-16 unit but two UTF-8 bytes: 2 + 50 * 2 = 102 bytes.
    const wide = expectThrown(() => toJson('job data', 'é'.repeat(50), 100), PayloadTooLargeError);
    expect(wide.size).toBe(102);
  });

  it('round-trips through fromJson', () => {
    const value = { a: [1, 'b', null], c: { d: true } };
    expect(fromJson(toJson('job data', value, MAX))).toEqual(value);
    expect(fromJson(undefined)).toBeUndefined();
    expect(fromJson('')).toBeUndefined();
  });
});
