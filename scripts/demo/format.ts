/** Text both renderers share: event lines, verdicts, the tier table, the progress bar. */
import type { JobState } from '@streamjobs/core';
import { JOB_STATES, type Board, type BoardEvent, type EventKind } from './board.js';
import { style } from './style.js';

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)}s`;

/** `+1.23s`: when, since the section began. */
export const formatAt = (ms: number) => `+${seconds(ms)}`.padStart(7);

const KIND_COLORS: Record<EventKind, (text: string) => string> = {
  added: style.dim,
  started: style.cyan,
  completed: style.green,
  retried: style.yellow,
  failed: style.red,
  canceled: style.magenta,
  aborted: style.magenta,
  killed: style.red,
  reclaimed: style.yellow,
  'handed-back': style.yellow,
  'caught-up': style.cyan,
  'on-time': style.green,
  resumed: style.cyan,
  step: style.dim,
  error: style.red,
};

export function formatEvent(event: BoardEvent, colored: boolean): string {
  const label = event.kind.padEnd(11);
  return `${formatAt(event.at)}  ${colored ? KIND_COLORS[event.kind](label) : label} ${event.text}`;
}

const took = (board: Board) => seconds((board.finishedAt ?? Date.now()) - board.startedAt);

/** `✓ 1. Priority tiers — <what was shown> (0.42s)`: the plain log's verdict line. */
export function verdictLine(board: Board): string {
  return `${board.verdict!.ok ? '✓' : '✗'} ${board.number}. ${board.title} — ${board.verdict!.text} (${took(board)})`;
}

/** The live view's verdict: `✓ 1. Priority tiers 0.42s`, then what was shown, wrapped to `width`. */
export function verdictLines(board: Board, width: number): string[] {
  const { ok, text } = board.verdict!;
  const mark = ok ? style.green('✓') : style.red('✗');
  return [`${mark} ${style.bold(`${board.number}. ${board.title}`)} ${style.dim(took(board))}`, ...wrap(text, width - 3).map((line) => `   ${line}`)];
}

/** `text` (without escape codes) in lines of at most `width` columns, broken at spaces. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  return [...lines, line];
}

const COLUMN_LABELS: Record<JobState, string> = {
  waiting: 'wait',
  delayed: 'delay',
  active: 'active',
  completed: 'done',
  failed: 'failed',
  canceled: 'cancel',
};

/** The board's tiers as rows: jobs per state, and the places in the start order of each tier's jobs. */
export function tableLines(board: Board): string[] {
  const rows = board.rows();
  if (rows.length === 0) return [];
  const header = `${'tier'.padEnd(10)}${JOB_STATES.map((state) => COLUMN_LABELS[state].padStart(7)).join('')}  started (order)`;
  return [
    header,
    ...rows.map(
      (row) =>
        `${row.tier.padEnd(10)}${JOB_STATES.map((state) => String(row.counts[state]).padStart(7)).join('')}  ` +
        row.startOrder.map((place) => `#${place}`).join(' '),
    ),
  ];
}

export function progressBar(board: Board, width = 24): string {
  const { done, total, unit } = board.progress();
  const filled = total > 0 ? Math.round((done / total) * width) : 0;
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)} ${done}/${total} ${unit}`;
}
