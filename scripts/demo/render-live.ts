/**
 * The live view on a terminal: the running section's board is redrawn in place
 * (its title, the tiers with their jobs per state and start order, a progress
 * bar, what it waits for, the latest events); when the section concludes the
 * board is replaced by its verdict and final table, which stay on screen.
 * Every live line is cut to the terminal's width: a wrapped line would break
 * the count of lines to move up by.
 */
import type { Board } from './board.js';
import { formatEvent, progressBar, tableLines, verdictLines, wrap } from './format.js';
import type { Output, Renderer } from './render.js';
import { cursor, fit, style } from './style.js';

const FRAME_MS = 80;
const TICKER_LINES = 6;
const SPINNER = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';

export class LiveRenderer implements Renderer {
  private board: Board | undefined;
  /** Lines of the live frame on screen, below the permanent output. */
  private height = 0;
  private frames = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly restoreOnInterrupt = () => {
    this.close();
    process.exit(130);
  };

  constructor(private readonly output: Output) {
    output.write(cursor.hide);
    process.once('SIGINT', this.restoreOnInterrupt);
  }

  header(text: string): void {
    this.permanent([style.bold(text)]);
  }

  show(board: Board): void {
    this.board = board;
    this.draw();
    this.timer = setInterval(() => this.draw(), FRAME_MS);
    board.once('concluded', () => {
      clearInterval(this.timer);
      this.board = undefined;
      const table = tableLines(board).map((line) => style.dim(fit(`   ${line}`, this.width())));
      this.permanent(['', ...verdictLines(board, this.width()), ...table]);
    });
  }

  footer(text: string): void {
    this.permanent(['', style.bold(text)]);
  }

  close(): void {
    clearInterval(this.timer);
    process.off('SIGINT', this.restoreOnInterrupt);
    this.output.write(cursor.show);
  }

  /** Redraws the running section's board over its previous frame. */
  draw(): void {
    if (!this.board) return;
    this.replaceFrame(this.frame(this.board).map((line) => fit(line, this.width())));
  }

  private frame(board: Board): string[] {
    const elapsed = ((Date.now() - board.startedAt) / 1000).toFixed(1);
    const spinner = SPINNER[this.frames++ % SPINNER.length]!;
    const status = board.status
      ? `${style.cyan(spinner)} ${board.status.text} ${style.dim(`${((Date.now() - board.status.since) / 1000).toFixed(1)}s`)}`
      : style.dim(`${spinner} running`);
    return [
      '',
      `${style.cyan('▸')} ${style.bold(`${board.number}. ${board.title}`)} ${style.dim(`${elapsed}s`)}`,
      ...wrap(board.premise, this.width() - 2).map((line) => style.dim(`  ${line}`)),
      ...tableLines(board).map((line, index) => `   ${index === 0 ? style.dim(line) : line}`),
      ...(board.progress().total > 0 ? [`   ${progressBar(board)}`] : []),
      `   ${status}`,
      ...board.events.slice(-TICKER_LINES).map((event) => `   ${formatEvent(event, true)}`),
    ];
  }

  /** Writes permanent lines in place of the live frame: they scroll like a log, and may wrap. */
  private permanent(lines: string[]): void {
    this.output.write(`${cursor.up(this.height)}${cursor.clearDown}${lines.map((line) => `${line}\n`).join('')}`);
    this.height = 0;
  }

  /** Overwrites the live frame line by line (no blank moment, so no flicker); its lines never wrap. */
  private replaceFrame(lines: string[]): void {
    const body = lines.map((line) => `${cursor.clearLine}${line}\n`).join('');
    this.output.write(`${cursor.up(this.height)}${body}${cursor.clearDown}`);
    this.height = lines.length;
  }

  private width(): number {
    return Math.max(20, (this.output.columns ?? 80) - 1);
  }
}
