/**
 * Which connection options count as "the same", so that a process's Queues,
 * Workers and Schedulers share their connections: options that are equal
 * value for value (`{ url }` written out twice is one Redis), and anything
 * that is not plain data (a client to copy, a function, a TLS context) by
 * identity. Two options with the same key would make the same connection.
 */
export function sharingKey(options: object): string {
  try {
    return encode(options, new Set());
  } catch (err) {
    if (err !== CYCLE) throw err;
    return identity(options); // options that hold themselves (or nest absurdly deep) are compared by identity
  }
}

/** Thrown for options that hold themselves, or nest deeper than any real options do. */
const CYCLE = Symbol('cycle');
const MAX_DEPTH = 64;

const identities = new WeakMap<object, number>();
const symbols = new Map<symbol, number>();
let nextIdentity = 0;

function identity(value: object | symbol): string {
  const known = typeof value === 'symbol' ? symbols : identities;
  let id = (known as Map<object | symbol, number>).get(value);
  if (id === undefined) {
    id = ++nextIdentity;
    (known as Map<object | symbol, number>).set(value, id);
  }
  return `#${id}`;
}

function encode(value: unknown, open: Set<object>): string {
  if (value === undefined) return 'u';
  if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string') {
    return JSON.stringify(value);
  }
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function' || typeof value === 'symbol') return identity(value);
  if (ArrayBuffer.isView(value)) return `b:${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
  const proto = Object.getPrototypeOf(value) as unknown;
  // a client, a TLS secure context, a class instance: shared only with itself
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return identity(value as object);
  if (open.has(value as object) || open.size > MAX_DEPTH) throw CYCLE;
  open.add(value as object);
  const encoded = Array.isArray(value)
    ? `[${value.map((item) => encode(item, open)).join(',')}]`
    : `{${Object.keys(value as object)
        .sort()
        .map((key) => `${JSON.stringify(key)}:${encode((value as Record<string, unknown>)[key], open)}`)
        .join(',')}}`;
  open.delete(value as object);
  return encoded;
}
