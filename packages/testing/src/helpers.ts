import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { CONSUMER_GROUP, toRecord } from '@streamjobs/core';
import { createClient, createCluster, type RedisClientType } from 'redis';

/**
 * The Redis URL the global setup provided: `redis://host:port`, or in the
 * jest project `cluster` a `redis-cluster://host:port,host:port,...` naming
 * the masters of a Redis Cluster (see `connectionFor`).
 */
export function redisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set: run the tests through jest (its global setup provides Redis)');
  return url;
}

const CLUSTER_SCHEME = 'redis-cluster://';

/** The URL `redisUrl()` gives for a cluster of these masters (`redis://host:port` each). */
export function clusterUrl(nodes: readonly string[]): string {
  return CLUSTER_SCHEME + nodes.map((node) => new URL(node).host).join(',');
}

export function isClusterUrl(url: string): boolean {
  return url.startsWith(CLUSTER_SCHEME);
}

/** The masters a cluster URL names, as node-redis `rootNodes`. */
function rootNodes(url: string): { url: string }[] {
  return url.slice(CLUSTER_SCHEME.length).split(',').map((host) => ({ url: `redis://${host}` }));
}

/** The library's `connection` option for a URL of `redisUrl()`'s kind (fixtures get the URL in their config). */
export function connectionFor(url: string): { url: string } | { rootNodes: { url: string }[] } {
  return isClusterUrl(url) ? { rootNodes: rootNodes(url) } : { url };
}

/** The tests' Redis as the library's `connection` option: a single node, or a cluster in the `cluster` project. */
export function connection(): { url: string } | { rootNodes: { url: string }[] } {
  return connectionFor(redisUrl());
}

/** A random key prefix, so test files (and tests) never see each other's keys. */
export function testPrefix(label = 't'): string {
  return `${label}-${randomBytes(5).toString('hex')}`;
}

export type RawClient = RedisClientType;

/**
 * A plain node-redis client for asserting on keys (of the tests' Redis unless
 * `url` says otherwise); close it with `.destroy()`. For a cluster URL it is a
 * node-redis cluster client: its key commands (`hGet`, `xRange`, ...) are
 * routed by key like a single client's; anything else (`sendCommand`,
 * `clientList`, `scanIterator`, `multi`) goes through `nodeFor(client, key)`.
 */
export async function rawClient(url = redisUrl()): Promise<RawClient> {
  const client = isClusterUrl(url) ? createCluster({ rootNodes: rootNodes(url), RESP: 2 }) : createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  return client as unknown as RawClient;
}

/**
 * The client of the node holding `key` (a key of the queue asserted on): the
 * raw client itself on a single node, the master owning the key's slot on a cluster.
 */
export async function nodeFor(client: RawClient, key: string): Promise<RawClient> {
  const cluster = client as unknown as { getNodeClientForKey?: (key: string) => Promise<RawClient> };
  return cluster.getNodeClientForKey ? cluster.getNodeClientForKey(key) : client;
}

/**
 * Polls `condition` until it returns a truthy value (returned) or throws
 * after `timeoutMs` with `message`. For conditions no event announces.
 */
export async function waitUntil<T>(
  condition: () => T | Promise<T>,
  { timeoutMs = 30_000, intervalMs = 25, message = 'condition' }: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${message} (last: ${String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Resolves with the arguments of the next `event` that passes `filter`. */
export function nextEvent<Args extends unknown[] = unknown[]>(
  emitter: EventEmitter<any>,
  event: string,
  { timeoutMs = 30_000, filter = () => true }: { timeoutMs?: number; filter?: (...args: Args) => boolean } = {},
): Promise<Args> {
  return new Promise((resolve, reject) => {
    const listener = (...args: unknown[]) => {
      if (!filter(...(args as Args))) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args as Args);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`Timed out after ${timeoutMs} ms waiting for event "${event}"`));
    }, timeoutMs);
    emitter.on(event, listener);
  });
}

/** Something with an async close, registered to be closed after the test. */
export interface Closable {
  close(): Promise<unknown> | unknown;
}

/**
 * Collects what a test opens and closes it all (in reverse order) at the end.
 * Use one per test file: `const open = new OpenResources(); afterAll(() => open.closeAll())`.
 */
export class OpenResources {
  private readonly resources: Closable[] = [];

  track<T extends Closable>(resource: T): T {
    this.resources.push(resource);
    return resource;
  }

  async closeAll(): Promise<void> {
    const errors: unknown[] = [];
    while (this.resources.length > 0) {
      const resource = this.resources.pop()!;
      try {
        await resource.close();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

type Call = <T>(args: (string | number)[]) => Promise<T>;

function compareStreamIds(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bMs, bSeq] = b.split('-').map(BigInt) as [bigint, bigint];
  return aMs === bMs ? Number(aSeq - bSeq) : Number(aMs - bMs);
}

/**
 * The entries of a tier stream that still mean something: not yet delivered
 * to `group`, or delivered and not acknowledged. Acknowledged entries stay in
 * the stream until it is trimmed by whole nodes, so tests look through them.
 */
export async function liveStreamEntries(call: Call, lane: string, group = CONSUMER_GROUP): Promise<{ id: string; fields: Record<string, string> }[]> {
  const entries = await call<unknown[][]>(['XRANGE', lane, '-', '+']);
  const groups = await call<unknown[][]>(['XINFO', 'GROUPS', lane]).catch(() => []);
  const info = groups.map((flat) => toRecord(flat)).find((g) => g.name === group);
  const lastDelivered = info?.['last-delivered-id'] ?? '0-0';
  const pending = new Set(
    (await call<unknown[][]>(['XPENDING', lane, group, '-', '+', 1_000_000]).catch(() => [])).map((p) => String(p[0])),
  );
  return entries
    .map((entry) => ({ id: String(entry[0]), fields: toRecord(entry[1] as unknown[]) }))
    .filter((entry) => pending.has(entry.id) || compareStreamIds(entry.id, lastDelivered) > 0);
}
