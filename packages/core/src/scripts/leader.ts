import type { RedisConnection } from '../connection.js';
import type { QueueKeys } from '../keys.js';
import { publishCommand } from './context.js';
import { LuaScript } from './script.js';

const leaderScript = LuaScript.fromFile('leader', import.meta.url);
const resignScript = LuaScript.fromFile('resign', import.meta.url);

export type LeadershipReply =
  | { status: 'elected' | 'renewed'; value: string }
  | { status: 'follower'; leader: string; remainingMs: number };

/** Takes the queue's scheduler lock, or renews it when `instanceId` holds it. */
export async function claimLeadership(
  connection: RedisConnection,
  keys: QueueKeys,
  instanceId: string,
  ttlMs: number,
): Promise<LeadershipReply> {
  const reply = await leaderScript.run<unknown[]>(connection, [keys.leader, keys.fence], [instanceId, ttlMs]);
  const status = Number(reply[0]);
  if (status === 1) return { status: 'elected', value: String(reply[1]) };
  if (status === 2) return { status: 'renewed', value: String(reply[1]) };
  return { status: 'follower', leader: String(reply[1]), remainingMs: Number(reply[2]) };
}

/** Releases the lock if `value` is the current term's, and tells the followers. */
export async function resignLeadership(connection: RedisConnection, keys: QueueKeys, value: string): Promise<boolean> {
  const reply = await resignScript.run(connection, [keys.leader, keys.leaderSeen], [value, publishCommand({ connection }), keys.leaderChannel]);
  return Number(reply) === 1;
}
