import { createClient, type RedisClientOptions, type RedisClientType } from 'redis';
import { ConnectionError, InvalidOptionsError, StreamJobsError } from './errors.js';
import { MAX_TIMER_MS } from './job/options.js';
import { sharingKey } from './sharing-key.js';
import { duplicateCluster, isClusterClient, isClusterOptions, ownClusterClient, routingKey, type ClusterClient, type ClusterOptions } from './cluster.js';

/**
 * How to reach Redis: client options for node-redis (`{ url }` at least), or a
 * client whose settings we copy (we open connections of our own from it with
 * `duplicate()` and never use or close the client itself). For a Redis
 * Cluster: `createCluster` options (`{ rootNodes: [...] }`) or a cluster client.
 */
export type ConnectionOptions = RedisClientOptions | RedisClientType<any, any, any, any, any> | ClusterOptions | ClusterClient;

type Client = RedisClientType<any, any, any, any, any> | ClusterClient;

/** How long a call waits for a (re)connection before it rejects. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

type Reply = unknown;

/** Sends one command to one node. */
export type NodeCall = (args: readonly (string | number)[]) => Promise<Reply>;

/**
 * One node-redis client and the state all its users share: whether it is
 * connected, the last error it saw, how many `RedisConnection`s use it.
 * It is destroyed when the last of them closes.
 */
class ClientLink {
  lastError: Error | undefined;
  private connecting: Promise<void> | undefined;
  private readySignal: Promise<void> | undefined;
  private count = 0;
  private destroyed = false;
  private wasReady = false;
  /** Called each time the client is ready again after losing its connection. */
  readonly reconnected = new Set<() => void>();

  constructor(
    readonly client: Client,
    private readonly forget?: () => void,
  ) {
    client.on('error', (err: Error) => {
      this.lastError = err;
    });
    // node-redis re-subscribes before it says ready: a listener may look again for what it missed
    client.on('ready', () => {
      if (this.wasReady) for (const listener of [...this.reconnected]) listener();
      this.wasReady = true;
    });
  }

  /** RedisConnections using the client. */
  get users(): number {
    return this.count;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  retain(): void {
    this.count++;
  }

  release(): void {
    if (--this.count > 0 || this.destroyed) return;
    this.destroyed = true;
    this.forget?.();
    if (this.client.isOpen) this.client.destroy();
  }

  async ready(connectTimeout: number): Promise<void> {
    if (this.client.isReady) return;
    if (!this.client.isOpen) {
      this.connecting ??= this.client.connect().then(
        // node-redis (6.3) leaves the socket open when destroy() comes while it is being created
        () => void (this.destroyed && this.client.destroy()),
        (err: unknown) => {
          this.lastError = err as Error;
          // a cluster client gives up when no root node answers (a single client
          // keeps reconnecting by itself): the next call tries again
          if (isClusterClient(this.client) && !this.client.isOpen) this.connecting = undefined;
        },
      );
    }
    await this.waitForReady(connectTimeout);
  }

  private waitForReady(connectTimeout: number): Promise<void> {
    // One listener per outage, however many calls wait on it.
    this.readySignal ??= new Promise<void>((resolve) => {
      // a cluster client is ready once it knows the slots; it reconnects to nodes by itself
      this.client.once(isClusterClient(this.client) ? 'connect' : 'ready', () => {
        this.readySignal = undefined;
        resolve();
      });
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const why = this.lastError ? `: ${this.lastError.message}` : '';
        reject(new ConnectionError(`Redis not reachable within ${connectTimeout} ms${why}`, { cause: this.lastError }));
      }, connectTimeout);
      void this.readySignal!.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** What a shared connection is for: commands, or pub/sub notices (a subscribed connection serves nothing else). */
export type SharedRole = 'commands' | 'notices';

/** Shared clients of this process, by role and connection options (see `sharingKey`). */
const sharedLinks = new Map<string, ClientLink>();

/**
 * A Redis connection as the library uses it: raw commands in, plain replies
 * out. It never queues commands while disconnected: a call waits up to
 * `connectTimeout` for the connection to come back and otherwise rejects with
 * a `ConnectionError`, so callers learn at once that nothing was written.
 * Reconnection runs in the background for as long as the connection is open.
 *
 * Connections made by `shared()` are one client per process, role and
 * connection options, used by every Queue, Worker and Scheduler of the
 * process that asks for it; closing one gives up only its own use.
 */
export class RedisConnection {
  private closed = false;
  /** Channels this connection subscribed to, with their listeners: dropped when it closes. */
  private readonly subscriptions: [string, (message: string) => void][] = [];
  private readonly reconnectListeners: (() => void)[] = [];

  private constructor(
    private readonly link: ClientLink,
    private readonly connectTimeout: number,
  ) {
    link.retain();
  }

  private get client(): Client {
    return this.link.client;
  }

  /**
   * A connection of its own. `name` (CLIENT SETNAME) tells in CLIENT LIST
   * which of our connections is which; a name in the caller's options wins.
   */
  static create(options: ConnectionOptions, connectTimeout = DEFAULT_CONNECT_TIMEOUT_MS, name?: string): RedisConnection {
    return new RedisConnection(new ClientLink(clientFor(options, name)), timeoutOf(connectTimeout));
  }

  /**
   * This process's connection for `role` to the Redis `options` describe,
   * shared with every other user asking with the same options (see
   * `sharingKey`); named `streamjobs:<role>:<pid>` in CLIENT LIST unless the
   * options name it.
   */
  static shared(options: ConnectionOptions, connectTimeout = DEFAULT_CONNECT_TIMEOUT_MS, role: SharedRole = 'commands'): RedisConnection {
    assertConnectionOptions(options);
    const key = `${role}|${sharingKey(options)}`;
    let link = sharedLinks.get(key);
    if (!link || link.isDestroyed) {
      link = new ClientLink(clientFor(options, `streamjobs:${role}:${process.pid}`), () => sharedLinks.delete(key));
      sharedLinks.set(key, link);
    }
    return new RedisConnection(link, timeoutOf(connectTimeout));
  }

  /** A second connection of its own to the same server, e.g. for blocking reads. */
  duplicate(name?: string): RedisConnection {
    const client = isClusterClient(this.client)
      ? duplicateCluster(this.client, CLUSTER_NODE_SETTINGS, optionalName(name))
      : this.client.duplicate({ ...OUR_SETTINGS, ...named(name) });
    return new RedisConnection(new ClientLink(client), this.connectTimeout);
  }

  /** Connected to a Redis Cluster: commands are routed by key, notices use sharded pub/sub. */
  get isCluster(): boolean {
    return isClusterClient(this.client);
  }

  /**
   * Subscribes this connection (which then serves nothing else) to `channel`.
   * node-redis re-subscribes after a reconnection; notices published while
   * disconnected are lost, so subscribers need a backstop (`onReconnect`
   * tells when to look). On a cluster the subscription is sharded
   * (SSUBSCRIBE, on the node owning the channel's slot).
   */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    await this.ready();
    try {
      if (isClusterClient(this.client)) await this.client.sSubscribe(channel, listener);
      else await this.client.subscribe(channel, listener);
      this.subscriptions.push([channel, listener]);
    } catch (err) {
      throw asLibraryError(err);
    }
  }

  /** Ends what `subscribe(channel, listener)` started (other listeners of the channel stay). */
  async unsubscribe(channel: string, listener: (message: string) => void): Promise<void> {
    const index = this.subscriptions.findIndex(([c, l]) => c === channel && l === listener);
    if (index < 0) return;
    this.subscriptions.splice(index, 1);
    try {
      if (isClusterClient(this.client)) await this.client.sUnsubscribe(channel, listener);
      else await this.client.unsubscribe(channel, listener);
    } catch (err) {
      throw asLibraryError(err);
    }
  }

  /** Calls `listener` each time the connection is ready again after it was lost (not on a cluster). */
  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
    this.link.reconnected.add(listener);
  }

  get isReady(): boolean {
    return this.client.isReady;
  }

  /**
   * Sends one command; waits for a connection first. On a cluster it goes to
   * the master owning `key` (default: the command's first key, see `routingKey`).
   */
  async call<T = Reply>(args: readonly (string | number | Buffer)[], key?: string): Promise<T> {
    await this.ready();
    const command = args.map(toArgument);
    try {
      if (isClusterClient(this.client)) return (await this.client.sendCommand(key ?? routingKey(command), false, command, NO_REPLY_TIMEOUT)) as T;
      return (await this.client.sendCommand(command, NO_REPLY_TIMEOUT)) as T;
    } catch (err) {
      throw asLibraryError(err);
    }
  }

  /**
   * One caller per master (the one server, when this is not a cluster): for
   * commands a cluster answers per node, such as SCAN, which sees only the
   * keys of the node it runs on.
   */
  async masterCallers(): Promise<NodeCall[]> {
    await this.ready();
    if (!isClusterClient(this.client)) return [(args) => this.call(args)];
    const cluster = this.client;
    try {
      const nodes = await Promise.all(cluster.masters.map((master) => cluster.nodeClient(master)));
      return nodes.map((node) => async (args) => {
        try {
          return (await node.sendCommand(args.map(toArgument), NO_REPLY_TIMEOUT)) as Reply;
        } catch (err) {
          throw asLibraryError(err);
        }
      });
    } catch (err) {
      throw asLibraryError(err);
    }
  }

  /** Resolves once the connection is usable; rejects after `connectTimeout`. */
  async ready(): Promise<void> {
    if (this.closed) throw new ConnectionError('connection is closed');
    await this.link.ready(this.connectTimeout);
  }

  /**
   * Closes the connection: later calls reject. A connection of its own closes
   * its client (pending calls reject); a shared one drops its subscriptions
   * and closes the client when no other user is left. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const listener of this.reconnectListeners) this.link.reconnected.delete(listener);
    // others still use the client: end this connection's subscriptions on it (else they end with it)
    for (const [channel, listener] of this.link.users > 1 ? this.subscriptions : []) {
      const ended = isClusterClient(this.client) ? this.client.sUnsubscribe(channel, listener) : this.client.unsubscribe(channel, listener);
      ended.catch(() => undefined);
    }
    this.subscriptions.length = 0;
    this.link.release();
  }
}

function timeoutOf(connectTimeout: number): number {
  return Math.min(connectTimeout, MAX_TIMER_MS);
}

function assertConnectionOptions(options: ConnectionOptions): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionsError('connection', 'must be node-redis client options ({ url, ... }) or a node-redis client (or their cluster counterparts)');
  }
}

/** A client of our own for `options`: node-redis checks its options here (a bad url, an option that needs RESP3). */
function clientFor(options: ConnectionOptions, name: string | undefined): Client {
  assertConnectionOptions(options);
  try {
    return ownClient(options, name);
  } catch (err) {
    throw new InvalidOptionsError('connection', (err as Error).message);
  }
}

/** A client of our own: from the caller's options, or copied from the caller's client. */
function ownClient(options: ConnectionOptions, name: string | undefined): Client {
  if (isClusterClient(options) || isClusterOptions(options)) return ownClusterClient(options, CLUSTER_NODE_SETTINGS, optionalName(name));
  return isClient(options)
    ? options.duplicate({ ...OUR_SETTINGS, ...named(options.options?.name ?? name) })
    : createClient({ ...withResilientDefaults(options), ...named(options.name ?? name) });
}

function optionalName(name: string | undefined): string | undefined {
  return name === undefined ? undefined : printable(name);
}

function named(name: string | undefined): { name?: string } {
  return name === undefined ? {} : { name: printable(name) };
}

/**
 * CLIENT SETNAME refuses spaces, newlines and anything outside `!`..`~`, and
 * then the connection fails; our names carry the queue name, which may hold
 * any of those: they are percent-encoded.
 */
function printable(name: string): string {
  return name.replace(/[^!-~]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function isClient(options: ConnectionOptions): options is RedisClientType<any, any, any, any, any> {
  return typeof (options as { sendCommand?: unknown }).sendCommand === 'function';
}

/**
 * Calls wait for Redis's reply however long it takes (docs/faults.md): node-redis's
 * client-side command timeout (5 s by default) would reject a call whose command
 * Redis may still run, fail blocking reads at their own BLOCK time, and it costs
 * a timer and an AbortSignal per call. Transport failures still reject at once.
 */
const NO_REPLY_TIMEOUT = { timeout: 0 };

/**
 * RESP2 (replies are plain arrays, which the scripts' wrappers parse), and no
 * offline queue (a call must fail, not wait forever, while Redis is away).
 * Maintenance notifications need RESP3: a client made with node-redis's
 * defaults has them on, and its duplicate with RESP2 would be refused.
 */
const OUR_SETTINGS = { RESP: 2, disableOfflineQueue: true, maintNotifications: 'disabled' } as const;

/** OUR_SETTINGS for the connection to each node of a cluster, with the same reconnection backoff. */
const CLUSTER_NODE_SETTINGS = { ...OUR_SETTINGS, socket: { reconnectStrategy: reconnectBackoff } };

function reconnectBackoff(retries: number): number {
  return Math.min(50 * 2 ** retries, 2_000);
}

function withResilientDefaults(options: RedisClientOptions): RedisClientOptions<any, any, any, 2> {
  return {
    ...options,
    ...OUR_SETTINGS,
    socket: {
      reconnectStrategy: reconnectBackoff,
      ...(options.socket ?? {}),
    } as RedisClientOptions["socket"],
  };
}

function toArgument(arg: string | number | Buffer): string | Buffer {
  return typeof arg === 'number' ? String(arg) : arg;
}

const CONNECTION_ERRORS = new Set([
  'ClientClosedError',
  'ClientOfflineError',
  'SocketClosedUnexpectedlyError',
  'ConnectionTimeoutError',
  'SocketTimeoutError',
  'DisconnectsClientError',
  'ReconnectStrategyError',
]);

/** Maps transport failures to `ConnectionError`; Redis error replies pass through. */
export function asLibraryError(err: unknown): Error {
  if (err instanceof StreamJobsError) return err;
  const error = err instanceof Error ? err : new Error(String(err));
  if (CONNECTION_ERRORS.has(error.constructor.name) || /ECONNREFUSED|ECONNRESET|EPIPE/.test(error.message)) {
    return new ConnectionError(`Redis connection failed: ${error.message}`, { cause: error });
  }
  return error;
}
