/**
 * The log for anything but a terminal: a line per section, per event and per
 * wait, then the section's verdict. No escape codes.
 */
import type { Board, BoardEvent } from './board.js';
import { formatAt, formatEvent, verdictLine } from './format.js';
import type { Output, Renderer } from './render.js';

export class PlainRenderer implements Renderer {
  constructor(private readonly output: Output) {}

  header(text: string): void {
    this.line(text);
  }

  show(board: Board): void {
    this.line();
    this.line(`${board.number}. ${board.title} — ${board.premise}`);
    const onEvent = (event: BoardEvent) => this.line(`   ${formatEvent(event, false)}`);
    const onStatus = (text: string) => this.line(`   ${formatAt(Date.now() - board.startedAt)}  … ${text}`);
    board.on('event', onEvent).on('status', onStatus);
    board.once('concluded', () => {
      board.off('event', onEvent).off('status', onStatus);
      this.line(verdictLine(board));
    });
  }

  footer(text: string): void {
    this.line();
    this.line(text);
  }

  close(): void {}

  private line(text = ''): void {
    this.output.write(`${text}\n`);
  }
}
