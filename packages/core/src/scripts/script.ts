import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RedisConnection } from '../connection.js';

/**
 * A Lua script run by SHA. The source is read once from the `.lua` file beside
 * its wrapper; EVALSHA is tried first and EVAL (which also caches the script)
 * only when the server answers NOSCRIPT, e.g. after a restart or failover.
 */
export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  static fromFile(name: string, moduleUrl: string): LuaScript {
    return new LuaScript(name, readFileSync(new URL(`./${name}.lua`, moduleUrl), 'utf8'));
  }

  async run<T>(connection: RedisConnection, keys: readonly string[], args: readonly (string | number)[]): Promise<T> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await connection.call<T>(['EVALSHA', this.sha, ...tail]);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return connection.call<T>(['EVAL', this.source, ...tail]);
    }
  }
}
