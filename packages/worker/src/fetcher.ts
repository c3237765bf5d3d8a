import { fetchJobs, type FetchedJob, type QueueContext, type RedisConnection } from '@streamjobs/core';

/**
 * Claims jobs for free slots, highest tier first, and blocks when none wait.
 *
 * Fetching is one script call that claims at most `free` entries, so a
 * worker never holds an entry it has no slot for. When nothing waits, the
 * script returns each tier's last-delivered id and the fetcher blocks with
 * XREAD (which claims nothing) on a connection of its own until an entry
 * newer than those arrives, then fetches again: an idle worker starts a new
 * job one round trip after it is added.
 */
export class Fetcher {
  constructor(
    private readonly ctx: QueueContext,
    private readonly blocking: RedisConnection,
    private readonly consumer: string,
    private readonly blockMs: number,
  ) {}

  /** Claims up to `free` jobs; an empty array after waiting up to `blockMs` for work. */
  async next(free: number): Promise<FetchedJob[]> {
    const reply = await fetchJobs(this.ctx, this.consumer, free);
    if (reply.jobs.length > 0 || !('lastIds' in reply)) return reply.jobs;
    const lanes = this.ctx.keys.lanes(this.ctx.tiers.length);
    await this.blocking.call(['XREAD', 'COUNT', 1, 'BLOCK', this.blockMs, 'STREAMS', ...lanes, ...reply.lastIds]);
    return [];
  }
}
