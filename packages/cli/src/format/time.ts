const UNITS: readonly [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
];

/** A duration the way people say it: `850ms`, `12s`, `3m 20s`, `2h 5m`, `4d 1h`. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(Math.round(ms));
  if (abs < 1_000) return `${abs}ms`;
  const index = UNITS.findIndex(([, size]) => abs >= size);
  const [unit, size] = UNITS[index]!;
  const whole = Math.floor(abs / size);
  const next = UNITS[index + 1];
  const rest = next ? Math.floor((abs % size) / next[1]) : 0;
  return next && rest > 0 ? `${whole}${unit} ${rest}${next[0]}` : `${whole}${unit}`;
}

/** An instant relative to `now`: `5s ago`, `in 3m`. */
export function formatRelative(at: number, now: number): string {
  return at <= now ? `${formatDuration(now - at)} ago` : `in ${formatDuration(at - now)}`;
}

/** An instant in UTC with its distance from `now`, or `-` when there is none. */
export function formatInstant(at: number | undefined, now: number): string {
  if (at === undefined) return '-';
  return `${new Date(at).toISOString()} (${formatRelative(at, now)})`;
}
