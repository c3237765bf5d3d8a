import { createClient, type RedisClientOptions, type RedisClientType } from 'redis';
import { ConnectionError, InvalidOptionsError, StreamJobsError } from './errors.js';
import { MAX_TIMER_MS } from './job/options.js';
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
 * A Redis connection as the library uses it: raw commands in, plain replies
 * out. It never queues commands while disconnected: a call waits up to
 * `connectTimeout` for the connection to come back and otherwise rejects with
 * a `ConnectionError`, so callers learn at once that nothing was written.
 * Reconnection runs in the background for as long as the connection is open.
 */
export class RedisConnection {
  private readonly client: Client;
  private lastError: Error | undefined;
  private connecting: Promise<void> | undefined;
  private readySignal: Promise<void> | undefined;
  private closed = false;

  private constructor(
    client: Client,
    private readonly connectTimeout: number,
  ) {
    this.client = client;
    this.client.on('error', (err: Error) => {
      this.lastError = err;
    });
  }

  /**
   * `name` (CLIENT SETNAME) tells in CLIENT LIST which of our connections is
   * which; a name in the caller's options wins.
   */
  static create(options: ConnectionOptions, connectTimeout = DEFAULT_CONNECT_TIMEOUT_MS, name?: string): RedisConnection {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new InvalidOptionsError('connection', 'must be node-redis client options ({ url, ... }) or a node-redis client (or their cluster counterparts)');
    }
    let client: Client;
    try {
      client = ownClient(options, name);
    } catch (err) {
      // node-redis checks its options here (a bad url, an option that needs RESP3)
      throw new InvalidOptionsError('connection', (err as Error).message);
    }
    return new RedisConnection(client, Math.min(connectTimeout, MAX_TIMER_MS));
  }

  /** A second connection to the same server, e.g. for blocking reads or notices. */
  duplicate(name?: string): RedisConnection {
    const client = isClusterClient(this.client)
      ? duplicateCluster(this.client, CLUSTER_NODE_SETTINGS, optionalName(name))
      : this.client.duplicate({ ...OUR_SETTINGS, ...named(name) });
    return new RedisConnection(client, this.connectTimeout);
  }

  /** Connected to a Redis Cluster: commands are routed by key, notices use sharded pub/sub. */
  get isCluster(): boolean {
    return isClusterClient(this.client);
  }

  /**
   * Subscribes this connection (which then serves nothing else) to `channel`.
   * node-redis re-subscribes after a reconnection; notices published while
   * disconnected are lost, so subscribers need a backstop. On a cluster the
   * subscription is sharded (SSUBSCRIBE, on the node owning the channel's slot).
   */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    await this.ready();
    try {
      if (isClusterClient(this.client)) await this.client.sSubscribe(channel, listener);
      else await this.client.subscribe(channel, listener);
    } catch (err) {
      throw asLibraryError(err);
    }
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
    if (this.client.isReady) return;
    if (!this.client.isOpen) {
      this.connecting ??= this.client.connect().then(
        // node-redis (6.3) leaves the socket open when destroy() comes while it is being created
        () => void (this.closed && this.client.destroy()),
        (err: unknown) => {
          this.lastError = err as Error;
          // a cluster client gives up when no root node answers (a single client
          // keeps reconnecting by itself): the next call tries again
          if (isClusterClient(this.client) && !this.client.isOpen) this.connecting = undefined;
        },
      );
    }
    await this.waitForReady();
  }

  private waitForReady(): Promise<void> {
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
        reject(new ConnectionError(`Redis not reachable within ${this.connectTimeout} ms${why}`, { cause: this.lastError }));
      }, this.connectTimeout);
      void this.readySignal!.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Closes the connection; pending calls reject. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.client.isOpen) this.client.destroy();
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
