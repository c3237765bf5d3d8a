/**
 * How the demo is shown: live on a terminal (a board per section redrawn in
 * place, see render-live.ts), or as a plain log with one line per event and a
 * verdict per section when stdout is not a terminal (CI, pipes; see
 * render-plain.ts). format.ts holds the text both share.
 */
import type { Board } from './board.js';
import { LiveRenderer } from './render-live.js';
import { PlainRenderer } from './render-plain.js';

export interface Renderer {
  /** A line above everything else. */
  header(text: string): void;
  /** Shows a section's board until it concludes. */
  show(board: Board): void;
  /** A line below everything else. */
  footer(text: string): void;
  /** Stops drawing and leaves the terminal as it was. */
  close(): void;
}

/** Where a renderer writes: process.stdout, or a test's sink. */
export interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** A live view on a terminal unless told `plain`; a plain log otherwise. */
export function createRenderer(output: Output, { plain = false } = {}): Renderer {
  const live = !plain && output.isTTY === true && process.env.TERM !== 'dumb';
  return live ? new LiveRenderer(output) : new PlainRenderer(output);
}
