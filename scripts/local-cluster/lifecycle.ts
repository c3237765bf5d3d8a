/**
 * What the cluster's entry points (scripts/compose-*.ts) share: a periodic
 * summary line and the shutdown on SIGTERM (docker stop, scale-down) or
 * SIGINT (Ctrl-C). Each process prints plain lines; docker compose and
 * `pnpm cluster` prefix them with the process's name.
 */

export function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Every `ms`, prints what `summary()` returns unless it returns undefined (nothing happened). Returns a stop function. */
export function summarise(ms: number, summary: () => string | undefined): () => void {
  const timer = setInterval(() => {
    const line = summary();
    if (line !== undefined) log(line);
  }, ms);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Runs `close` once on the first SIGTERM or SIGINT, then lets the process end
 * by itself: `close` must leave nothing open (the library's `close()` methods
 * do). Exit code 0, or 1 when closing failed.
 */
export function closeOnSignals(close: () => Promise<void>): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    log(`${signal}: closing`);
    close().then(
      () => log('closed'),
      (err: Error) => {
        console.error(`closing failed: ${err.stack ?? err.message}`);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
