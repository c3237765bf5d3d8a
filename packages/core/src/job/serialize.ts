import { PayloadTooLargeError, SerializationError } from '../errors.js';

/**
 * JSON-encodes `value`, refusing what JSON would silently change or drop:
 * functions, symbols, bigints, `undefined` (at the top or in arrays),
 * non-finite numbers, cycles, and class instances without `toJSON` (a Map
 * would become `{}`). Dates and other values with `toJSON` are fine.
 */
export function toJson(what: string, value: unknown, maxBytes: number): string {
  let json: string;
  try {
    assertSerializable(what, value, '$', new Set());
    json = JSON.stringify(value);
  } catch (err) {
    // nested deeper than the stack allows, or a string longer than V8's limit
    if (err instanceof RangeError) throw new SerializationError(what, err.message, { cause: err });
    throw err;
  }
  const size = Buffer.byteLength(json, 'utf8');
  if (size > maxBytes) throw new PayloadTooLargeError(what, size, maxBytes);
  return json;
}

function assertSerializable(what: string, value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new SerializationError(what, `${path} is ${value}`);
      return;
    case 'undefined':
    case 'function':
    case 'symbol':
    case 'bigint':
      throw new SerializationError(what, `${path} is a ${typeof value}`);
  }
  if (value === null) return;
  const object = value as object;
  if (typeof (object as { toJSON?: unknown }).toJSON === 'function') return;
  if (seen.has(object)) throw new SerializationError(what, `${path} is a circular reference`);
  seen.add(object);
  if (Array.isArray(object)) {
    object.forEach((item, index) => assertSerializable(what, item, `${path}[${index}]`, seen));
  } else {
    const proto = Object.getPrototypeOf(object);
    if (proto !== Object.prototype && proto !== null) {
      throw new SerializationError(what, `${path} is a ${proto?.constructor?.name ?? 'class'} instance`);
    }
    for (const [key, item] of Object.entries(object)) {
      if (item === undefined) continue; // JSON drops undefined properties, as users expect
      assertSerializable(what, item, `${path}.${key}`, seen);
    }
  }
  seen.delete(object);
}

/** Parses stored JSON; `undefined` for an absent field. */
export function fromJson(json: string | undefined): unknown {
  return json === undefined || json === '' ? undefined : JSON.parse(json);
}
