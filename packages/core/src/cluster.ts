import { createCluster, type RedisClusterOptions, type RedisClusterType } from 'redis';

/**
 * Redis Cluster support. Every key of a queue carries the queue's hash tag, so
 * one queue lives in one slot: each command is routed by a key of its queue
 * (`routingKey`), every script runs atomically on the master owning that slot,
 * and different queues spread over the masters. Cancel notices use sharded
 * pub/sub (SPUBLISH / SSUBSCRIBE) on the queue's hash-tagged channel, so they
 * stay on the queue's shard.
 */
export type ClusterClient = RedisClusterType<any, any, any, any, any>;

/** Options for node-redis `createCluster` (`{ rootNodes: [{ url }, ...] }` at least). */
export type ClusterOptions = RedisClusterOptions<any, any, any, any, any>;

export function isClusterOptions(options: object): options is ClusterOptions {
  return Array.isArray((options as { rootNodes?: unknown }).rootNodes) && !isClusterClient(options);
}

/** A node-redis cluster client (made by `createCluster`). */
export function isClusterClient(options: object): options is ClusterClient {
  const candidate = options as { sSubscribe?: unknown; masters?: unknown; sendCommand?: unknown };
  return typeof candidate.sendCommand === 'function' && typeof candidate.sSubscribe === 'function' && 'masters' in candidate;
}

/**
 * A cluster client of our own: from the caller's options, or copied from the
 * caller's client (which we never use or close). `nodeSettings` apply to the
 * connection to every node, on top of the caller's `defaults` (credentials, TLS).
 */
export function ownClusterClient(options: ClusterOptions | ClusterClient, nodeSettings: NodeSettings, name: string | undefined): ClusterClient {
  if (isClusterClient(options)) return duplicateCluster(options, nodeSettings, options._options.defaults?.name ?? name);
  const defaults = options.defaults ?? {};
  return createCluster({ ...options, RESP: 2, defaults: nodeDefaults(defaults, nodeSettings, defaults.name ?? name) }) as ClusterClient;
}

/** Another cluster client with the same settings, e.g. for blocking reads or notices. */
export function duplicateCluster(client: ClusterClient, nodeSettings: NodeSettings, name: string | undefined): ClusterClient {
  return client.duplicate({ RESP: 2, defaults: nodeDefaults(client._options.defaults ?? {}, nodeSettings, name) }) as ClusterClient;
}

/** What we set on every node connection; the caller's socket settings (TLS, timeouts) win over ours. */
export interface NodeSettings {
  [setting: string]: unknown;
  socket?: object;
}

function nodeDefaults(defaults: NonNullable<ClusterOptions['defaults']>, { socket, ...settings }: NodeSettings, name: string | undefined) {
  return {
    ...defaults,
    ...settings,
    socket: { ...socket, ...(defaults.socket ?? {}) },
    ...(name === undefined ? {} : { name }),
  } as NonNullable<ClusterOptions['defaults']>;
}

/** Commands whose first key follows a subcommand (`XINFO GROUPS key`). */
const KEY_AFTER_SUBCOMMAND = new Set(['XINFO', 'XGROUP', 'OBJECT', 'MEMORY']);
/** Commands that address no key: any node answers. */
const KEYLESS = new Set(['TIME', 'PING', 'INFO', 'SCAN', 'CLIENT', 'CLUSTER', 'DBSIZE']);

/**
 * The key a command is routed by on a cluster: the first key it names. All
 * keys of one command belong to one queue (one slot), so the first decides.
 * Undefined for commands without a key (any node serves them).
 */
export function routingKey(args: readonly (string | Buffer)[]): string | Buffer | undefined {
  const command = String(args[0]).toUpperCase();
  if (command === 'EVALSHA' || command === 'EVAL' || command === 'EVALSHA_RO' || command === 'EVAL_RO') {
    return Number(args[2]) > 0 ? args[3] : undefined;
  }
  if (command === 'XREAD' || command === 'XREADGROUP') {
    const streams = args.findIndex((arg) => String(arg).toUpperCase() === 'STREAMS');
    return streams === -1 ? undefined : args[streams + 1];
  }
  if (KEY_AFTER_SUBCOMMAND.has(command)) return args[2];
  if (KEYLESS.has(command)) return undefined;
  return args[1];
}
