import { expect } from '@jest/globals';
import { InvalidOptionsError, StreamJobsError } from '@streamjobs/core';

/**
 * Asserts `fn` throws an InvalidOptionsError naming `option` (in its `option`
 * field and, quoted, in its message), optionally with a message matching
 * `message`, and returns it.
 */
export function expectInvalid(fn: () => unknown, option: string, message?: RegExp | string): InvalidOptionsError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(InvalidOptionsError);
  expect(caught).toBeInstanceOf(StreamJobsError);
  const error = caught as InvalidOptionsError;
  expect(error.code).toBe('ERR_INVALID_OPTIONS');
  expect(error.option).toBe(option);
  expect(error.name).toBe('InvalidOptionsError');
  expect(error.message).toContain(`"${option}"`);
  if (message !== undefined) expect(error.message).toMatch(message);
  return error;
}
