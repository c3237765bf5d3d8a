import type { FixtureProcess } from '@streamjobs/testing';

/**
 * A fixed number of processes of one kind (workers, or schedulers): every
 * slot always holds one, a killed member is replaced at once. Remembers every
 * process it ever started, for the report and for cleanup.
 */
export class Fleet {
  readonly members: FixtureProcess[] = [];
  readonly everyone: FixtureProcess[] = [];

  constructor(
    private readonly launch: () => FixtureProcess,
    size: number,
  ) {
    for (let slot = 0; slot < size; slot++) this.members.push(this.spawn());
  }

  /** Resolves once every current member printed a line matching `pattern`. */
  async ready(pattern: RegExp, timeoutMs = 60_000): Promise<void> {
    await Promise.all(this.members.map((member) => member.waitForLine(pattern, timeoutMs)));
  }

  /** SIGKILLs the member in `slot`, waits until it is gone, and starts its replacement. */
  async killAndReplace(slot: number): Promise<FixtureProcess> {
    const victim = this.members[slot]!;
    await victim.kill('SIGKILL');
    this.members[slot] = this.spawn();
    return victim;
  }

  /** Lines printed by every process ever started, in no particular order. */
  lines(): string[] {
    return this.everyone.flatMap((member) => member.lines);
  }

  /** SIGTERM (a graceful close) to every live member, SIGKILL to those still up after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    await Promise.all(
      this.everyone.map(async (member) => {
        if (member.child.exitCode !== null || member.child.signalCode !== null) return;
        const timer = setTimeout(() => member.child.kill('SIGKILL'), graceMs);
        await member.kill('SIGTERM');
        clearTimeout(timer);
      }),
    );
  }

  /** SIGKILL to everything still running (error paths). */
  killAll(): void {
    for (const member of this.everyone) {
      if (member.child.exitCode === null && member.child.signalCode === null) member.child.kill('SIGKILL');
    }
  }

  private spawn(): FixtureProcess {
    const member = this.launch();
    this.everyone.push(member);
    return member;
  }
}
