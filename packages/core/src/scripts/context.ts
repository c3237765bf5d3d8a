import type { RedisConnection } from '../connection.js';
import type { QueueKeys } from '../keys.js';

/** What every script wrapper needs to address one queue. */
export interface QueueContext {
  connection: RedisConnection;
  keys: QueueKeys;
  /** Tier names in force for the queue, highest first. */
  tiers: readonly string[];
  /** Approximate cap of the queue's events stream. */
  maxEvents: number;
}

/** `now` in ms from a script's `TIME`-based reply. */
export type ServerTime = number;

/**
 * How scripts publish notices: SPUBLISH on a cluster (sharded: every channel
 * carries the queue's hash tag, so it stays on the queue's shard), PUBLISH on
 * a single node (Redis 6.2 has no SPUBLISH).
 */
export function publishCommand(ctx: Pick<QueueContext, 'connection'>): 'SPUBLISH' | 'PUBLISH' {
  return ctx.connection.isCluster ? 'SPUBLISH' : 'PUBLISH';
}
