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
      const timer = setTimeout(done, Math.max(0, ms));
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.wakeCurrent === done) self.wakeCurrent = undefined;
        resolve();
      }
      this.wakeCurrent = done;
    });
  }

  wake(): void {
    if (this.wakeCurrent) this.wakeCurrent();
    else this.pendingWake = true;
  }
}
