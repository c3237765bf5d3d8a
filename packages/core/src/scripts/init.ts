import { InvalidOptionsError } from '../errors.js';
import { CONSUMER_GROUP, type QueueKeys } from '../keys.js';
import type { RedisConnection } from '../connection.js';
import { DEFAULT_TIERS } from '../job/options.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('init', import.meta.url);

/**
 * Settles the tiers of a queue (the stored ones win; `wanted` must agree with
 * them) and creates the consumer group on every tier stream.
 */
export async function initQueue(
  connection: RedisConnection,
  keys: QueueKeys,
  wanted: readonly string[] | undefined,
): Promise<string[]> {
  const [ok, tiers] = await script.run<[number, string]>(connection, [keys.meta], [
    keys.base,
    CONSUMER_GROUP,
    wanted ? JSON.stringify(wanted) : '',
    JSON.stringify(DEFAULT_TIERS),
  ]);
  if (ok !== 1) {
    throw new InvalidOptionsError(
      'tiers',
      `queue "${keys.queue}" already uses tiers ${tiers}; every process must use the same tiers`,
    );
  }
  return JSON.parse(tiers) as string[];
}
