/**
 * A sleep that another part of the program can cut short: background loops
 * sleep on it between rounds, and `wake()` (new work, or closing) ends the
 * current sleep at once. A `wake()` while nobody sleeps makes the next sleep
 * return at once, so a wake-up is never lost between two rounds.
 */
export class WakeableSleep {
  private wakeCurrent: (() => void) | undefined;
  private pendingWake = false;

  sleep(ms: number): Promise<void> {
    if (this.pendingWake) {
      this.pendingWake = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      // background loops sleep here: their timers never keep a process alive by themselves
      const timer = setTimeout(done, Math.max(0, ms)).unref();
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.wakeCurrent === done) self.wakeCurrent = undefined;
        resolve();
      }
      this.wakeCurrent = done;
    });
  }

  /**
   * Like `sleep` without a timeout (and without a timer to keep the process
   * alive): resolves at the next `wake()`. Meant to be raced with other work;
   * a later sleep replaces it, and it then never resolves.
   */
  untilWoken(): Promise<void> {
    if (this.pendingWake) {
      this.pendingWake = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        if (this.wakeCurrent === done) this.wakeCurrent = undefined;
        resolve();
      };
      this.wakeCurrent = done;
    });
  }

  wake(): void {
    if (this.wakeCurrent) this.wakeCurrent();
    else this.pendingWake = true;
  }
}
