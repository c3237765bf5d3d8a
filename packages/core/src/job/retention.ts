import type { RetentionOptions } from './types.js';

/** Retention as the settle script takes it: how many to keep and how old (-1: no bound). */
export function retentionArgs(retention: RetentionOptions | undefined): [keepCount: number, keepAgeMs: number] {
  if (retention === undefined || retention === false) return [-1, -1];
  if (retention === true) return [0, -1];
  if (typeof retention === 'number') return [retention, -1];
  return [retention.count ?? -1, retention.age ?? -1];
}
