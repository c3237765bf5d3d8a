import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisConnection } from '@streamjobs/core';
import type { FixtureProcess } from '@streamjobs/testing';
import type { Fleet } from './fleet.js';

/** A scheduler fixture's instance id, from its `started <instanceId>` line. */
function instanceOf(scheduler: FixtureProcess): string | undefined {
  return scheduler.lines.find((line) => line.startsWith('started '))?.slice('started '.length);
}

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
      const slot = await this.leaderSlot(until);
      if (slot === undefined) return;
      const instance = instanceOf(this.schedulers.members[slot]!);
      const killedAt = Date.now();
      await this.schedulers.killAndReplace(slot);
      this.leaderTakeoversMs.push(await this.takeover(instance, killedAt));
    }
  }

  /** The slot of the scheduler process that leads now; waits while there is none (between terms), until `until`. */
  private async leaderSlot(until: number): Promise<number | undefined> {
    while (Date.now() < until) {
      const leader = await this.currentLeader();
      const slot = leader ? this.schedulers.members.findIndex((member) => instanceOf(member) === leader.instance) : -1;
      if (slot >= 0) return slot;
      await sleep(50);
    }
    return undefined;
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

  /** Ms from the kill until another instance holds the lock (given up after a minute: the figure shows it). */
  private async takeover(killed: string | undefined, killedAt: number): Promise<number> {
    while (Date.now() - killedAt < 60_000) {
      const leader = await this.currentLeader();
      if (leader && leader.instance !== killed) break;
      await sleep(20);
    }
    return Date.now() - killedAt;
  }
}
