import { InvalidOptionsError } from '../errors.js';
import { assertWellFormed } from '../keys.js';
import { validateJobName, type ResolvedJobOptions } from '../job/options.js';
import { toJson } from '../job/serialize.js';
import type { JobOptions } from '../job/types.js';
import type { ScheduleTemplate, StoredTemplate } from './record.js';

/**
 * Checks a schedule's template and puts it in the form the materialise script
 * copies into every occurrence. `resolve` applies the queue's job defaults and
 * tiers to the template's options.
 */
export function encodeTemplate(
  template: unknown,
  resolve: (opts: JobOptions | undefined) => ResolvedJobOptions,
  maxPayloadBytes: number,
): StoredTemplate {
  if (typeof template !== 'object' || template === null) {
    throw new InvalidOptionsError('template', 'must be { name, data?, opts? }');
  }
  const { name, data, opts, ...rest } = template as ScheduleTemplate;
  const unknownKey = Object.keys(rest)[0];
  if (unknownKey !== undefined) throw new InvalidOptionsError(`template.${unknownKey}`, 'is not a template field');
  if (opts !== undefined && (typeof opts !== 'object' || opts === null || Array.isArray(opts))) {
    throw new InvalidOptionsError('template.opts', 'must be an object of job options');
  }
  for (const key of ['jobId', 'delay', 'runAt']) {
    if (opts && key in opts) throw new InvalidOptionsError(`template.opts.${key}`, 'is per job; schedules make their own');
  }
  const resolved = resolve(opts as JobOptions | undefined);
  return {
    name: validateJobName(name),
    data: toJson('schedule template data', data ?? null, maxPayloadBytes),
    opts: JSON.stringify(resolved.stored),
    tier: resolved.tier,
  };
}

export function validateScheduleId(id: unknown): void {
  if (typeof id !== 'string' || id.length === 0 || id.length > 256) {
    throw new InvalidOptionsError('id', 'schedule id must be a string of 1 to 256 characters');
  }
  assertWellFormed('id', id);
  if (id.includes('@')) throw new InvalidOptionsError('id', 'schedule id must not contain "@" (it separates the nominal time in job ids)');
  // schedule "x" keeps lists at `schedule:x:buffer` and `schedule:x:recent`
  if (/:(buffer|recent)$/.test(id)) {
    throw new InvalidOptionsError('id', `schedule id must not end with ":buffer" or ":recent" (another schedule's lists are named so; got ${JSON.stringify(id)})`);
  }
}
