import { claimLeadership, resignLeadership, type QueueKeys, type RedisConnection } from '@streamjobs/core';

/**
 * One scheduler instance's view of the leadership of one queue.
 *
 * Who owns what: the instance whose value `<instance>:<token>` is in the lock
 * key leads until the key expires. It renews every half of the lock's life
 * (what an idle queue costs is mostly these renewals); a leader that cannot
 * renew in time (paused, partitioned) loses the term, and because every
 * leader-only script compares the full value, its late writes are rejected:
 * the fencing token of the next term differs. Followers try again only when
 * the current term would expire, so a dead leader is replaced within the
 * lock's lifetime; a leader that resigns tells them (`claimSoon`).
 */
export class Leadership {
  /** The current term's lock value while this instance leads. */
  value: string | undefined;
  /** When the next claim or renewal is due (ms, local clock). */
  private nextClaimAt = 0;

  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: QueueKeys,
    private readonly instanceId: string,
    private readonly ttlMs: number,
  ) {}

  get isLeader(): boolean {
    return this.value !== undefined;
  }

  /** Claims or renews when due. Returns what changed: 'elected', 'lost' or nothing. */
  async tick(now = Date.now()): Promise<'elected' | 'lost' | undefined> {
    if (now < this.nextClaimAt) return undefined;
    const wasLeader = this.isLeader;
    const reply = await claimLeadership(this.connection, this.keys, this.instanceId, this.ttlMs);
    if (reply.status === 'follower') {
      this.value = undefined;
      // a lock without a lifetime (not ours: set by hand) is looked at again after one of ours
      this.nextClaimAt = now + (reply.remainingMs >= 0 ? reply.remainingMs + 5 : this.ttlMs);
      return wasLeader ? 'lost' : undefined;
    }
    const newTerm = reply.value !== this.value;
    this.value = reply.value;
    this.nextClaimAt = now + this.ttlMs / 2;
    return newTerm ? 'elected' : undefined;
  }

  /** Time until the next claim or renewal is due. */
  msUntilNextClaim(now = Date.now()): number {
    return Math.max(0, this.nextClaimAt - now);
  }

  /** When the next claim or renewal is due (ms, local clock). */
  get claimDueAt(): number {
    return this.nextClaimAt;
  }

  /** The leader resigned, or the lock may have changed unseen: a follower claims at its next tick. */
  claimSoon(): void {
    if (!this.isLeader) this.nextClaimAt = 0;
  }

  /** The term ended without us noticing through `tick` (a fenced script said so). */
  markLost(): void {
    this.value = undefined;
    this.nextClaimAt = 0;
  }

  /** Gives the lock up so another instance can take over at once. */
  async resign(): Promise<void> {
    const value = this.value;
    this.value = undefined;
    if (value) await resignLeadership(this.connection, this.keys, value);
  }
}
