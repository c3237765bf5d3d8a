/**
 * Seeded random inputs for the fuzz tests: the same seed gives the same
 * sequence, so a failure replays with FUZZ_SEED=<seed>. Values are what a
 * JavaScript caller (no type checker) could pass: anything at all, or option
 * objects whose keys are mostly the right ones with values mostly right.
 */
import { mulberry32 } from '@streamjobs/testing';

/** Strings that have broken key builders, parsers and protocols somewhere. */
export const TRICKY_STRINGS = [
  '', ' ', 'a', 'a b', ':', '::', '{', '}', '{a}', 'a}:x', '*', '?', '[a]', '../', '..\\x', '\n', '\r\n', '\t', '\u0000',
  'ü🙂', '\ud800', 'dead:0:1-1', 'x:checkpoint', 'x:recent', 'x:buffer', 'x@1700000000000', '@', '%s%d', '$', 'null',
  'undefined', '__proto__', 'constructor', 'toString', 'j', 'lane:0', 'e'.repeat(200), 'f'.repeat(201), 'g'.repeat(512),
  'h'.repeat(513), 'critical', 'normal', 'low', '0', '-1', '1e3', 'NaN',
];

class NotPlain {
  constructor(readonly value = 1) {}
}

export class Fuzz {
  private readonly random: () => number;

  constructor(readonly seed: number) {
    this.random = mulberry32(seed);
  }

  int(max: number): number {
    return Math.floor(this.random() * max);
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  string(): string {
    if (this.chance(0.6)) return this.pick(TRICKY_STRINGS);
    const length = this.int(12) + 1;
    return Array.from({ length }, () => String.fromCodePoint(this.chance(0.8) ? 0x20 + this.int(0x5f) : this.int(0x2ffff))).join('');
  }

  /** A count an option takes (concurrency, sizes, limits). */
  count(): number {
    return this.pick([1, 2, 10, 1_000, 1_048_576]);
  }

  /** A duration in ms an option takes. */
  ms(): number {
    return this.pick([100, 1_000, 5_000, 30_000]);
  }

  /** Numbers an option might get: right ones, edges, and wrong types. */
  number(): unknown {
    return this.pick([
      0, 1, 2, 7, 50, 1_000, 30_000, -1, -0, 0.5, 1.5, Number.NaN, Infinity, -Infinity, 2 ** 31, Number.MAX_SAFE_INTEGER,
      Number.MAX_SAFE_INTEGER + 2, 1e300, '5', '', null, true, 10n, [3], { valueOf: (): number => 3 },
    ]);
  }

  /** Any value at all, `depth` levels of nesting at most. */
  value(depth = 2): unknown {
    switch (this.int(depth > 0 ? 16 : 11)) {
      case 0: return undefined;
      case 1: return null;
      case 2: return this.chance(0.5);
      case 3: return this.number();
      case 4: return this.string();
      case 5: return this.pick([Symbol('s'), 12n, () => 1, async () => 1, class {}]);
      case 6: return this.pick([new Date(), new Date('nope'), new Date(8.64e15 + 1)]);
      case 7: return this.pick([new Map([[1, 2]]), new Set([1]), new NotPlain(), new Uint8Array(3), Buffer.from('x'), /re/g, new Error('e')]);
      case 8: return this.pick([Object.create(null), [], {}, [, 1], Object.assign([1], { extra: 2 })]);
      case 9: return this.cyclic();
      case 10: return this.deep(this.pick([10, 1_000, 20_000]));
      case 11: return Array.from({ length: this.int(5) }, () => this.value(depth - 1));
      default: return Object.fromEntries(Array.from({ length: this.int(5) }, () => [this.string(), this.value(depth - 1)]));
    }
  }

  /** Job data: anything, sometimes JSON-safe and sometimes big. */
  data(): unknown {
    if (this.chance(0.15)) return 'x'.repeat(this.pick([100, 9_000, 11_000, 2 * 1024 * 1024]));
    if (this.chance(0.3)) return { n: this.int(1_000), s: this.string(), list: [1, 'two', null, { three: 3 }], at: new Date(0) };
    return this.value(3);
  }

  /**
   * An object for `schema`: each key present with some probability (keys in
   * `required` nearly always), its value from the schema (right) or anything
   * (wrong); sometimes an unknown key, and sometimes no object at all.
   */
  options(schema: Record<string, () => unknown>, { presence = 0.35, wrong = 0.2, required = [] as string[] } = {}): unknown {
    if (this.chance(0.03)) return this.value(1);
    const options: Record<string, unknown> = {};
    for (const [key, right] of Object.entries(schema)) {
      if (this.chance(required.includes(key) ? 0.97 : presence)) options[key] = this.chance(wrong) ? this.wrong() : right();
    }
    if (this.chance(0.05)) options[this.string()] = this.value(1);
    return options;
  }

  private wrong(): unknown {
    return this.chance(0.5) ? this.number() : this.value(1);
  }

  private cyclic(): unknown {
    const node: Record<string, unknown> = { a: 1 };
    node.self = this.chance(0.5) ? node : [node];
    return node;
  }

  private deep(levels: number): unknown {
    let value: unknown = 1;
    for (let i = 0; i < levels; i++) value = this.chance(0.5) ? [value] : { v: value };
    return value;
  }
}
