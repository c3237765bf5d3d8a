import { WakeableSleep } from '@streamjobs/core';

/**
 * The skeleton of a worker's background services: `runOnce()` every
 * `intervalMs` (or what `nextDelayMs()` says after each round), with ±10%
 * jitter so many workers do not fire together, errors reported and retried
 * next round. `start()` and `stop()` are idempotent; `stop()` waits for a
 * round in flight to finish.
 */
export abstract class PeriodicService {
  private readonly sleep = new WakeableSleep();
  private loopDone: Promise<void> | undefined;
  private stopped = false;

  constructor(
    protected readonly intervalMs: number,
    private readonly onError: (err: Error) => void,
  ) {}

  abstract runOnce(): Promise<unknown>;

  /** How long to wait before the next round (ms). */
  protected nextDelayMs(): number {
    return this.intervalMs;
  }

  start(): void {
    if (this.loopDone || this.stopped) return;
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sleep.wake();
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      await this.sleep.sleep(this.nextDelayMs() * (0.9 + Math.random() * 0.2));
      if (this.stopped) return;
      try {
        await this.runOnce();
      } catch (err) {
        this.onError(err as Error);
      }
    }
  }
}
