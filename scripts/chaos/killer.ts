import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisConnection } from '@streamjobs/core';
import type { Fleet } from './fleet.js';

export interface KillerOptions {
  /** Mean time between two worker kills (ms); each wait is ±25% of it. */
  workerKillEveryMs: number;
  /** Mean time between two leader kills (ms); each wait is ±25% of it. */
  leaderKillEveryMs: number;
  /** The queue's leader lock key: its value is `<scheduler instanceId>:<token>`. */
  leaderKey: string;
  random: () => number;
}

/**
 * The faults of the chaos run: SIGKILL a random worker process every ~2 s,
 * and the scheduler process that leads the queue every ~10 s, each replaced
 * by a fresh process at once. Records what it killed, and how long each
 * leader kill left the queue without a leader.
 */
export class Killer {
  readonly killedWorkerPids: number[] = [];
  readonly leaderTakeoversMs: number[] = [];

  constructor(
    private readonly workers: Fleet,
    private readonly schedulers: Fleet,
    private readonly redis: RedisConnection,
    private readonly options: KillerOptions,
  ) {}

  /** Kills until `until` (epoch ms). */
  async run(until: number): Promise<void> {
    await Promise.all([this.killWorkers(until), this.killLeaders(until)]);
  }

  private async killWorkers(until: number): Promise<void> {
    while (await this.pause(this.options.workerKillEveryMs, until)) {
      const slot = Math.floor(this.options.random() * this.workers.members.length);
      const victim = await this.workers.killAndReplace(slot);
      this.killedWorkerPids.push(victim.pid);
    }
  }

  private async killLeaders(until: number): Promise<void> {
    while (await this.pause(this.options.leaderKillEveryMs, until)) {
      const leader = await this.currentLeader();
      const slot = leader && this.schedulers.members.findIndex((member) => member.lines.includes(`started ${leader.instance}`));
      if (!leader || slot === undefined || slot < 0) continue; // between terms: try at the next turn
      const killedAt = Date.now();
      await this.schedulers.killAndReplace(slot);
      this.leaderTakeoversMs.push(await this.takeover(leader.instance, killedAt));
    }
  }

  /** Waits about `meanMs`; false once `until` has passed. */
  private async pause(meanMs: number, until: number): Promise<boolean> {
    const wait = meanMs * (0.75 + this.options.random() * 0.5);
    await sleep(Math.max(0, Math.min(wait, until - Date.now())));
    return Date.now() < until;
  }

  private async currentLeader(): Promise<{ instance: string } | undefined> {
    const value = await this.redis.call<string | null>(['GET', this.options.leaderKey]);
    return value ? { instance: value.slice(0, value.lastIndexOf(':')) } : undefined;
  }

  /** Ms from the kill until another instance holds the lock. */
  private async takeover(killed: string, killedAt: number): Promise<number> {
    for (;;) {
      const leader = await this.currentLeader();
      if (leader && leader.instance !== killed) return Date.now() - killedAt;
      await sleep(20);
    }
  }
}
