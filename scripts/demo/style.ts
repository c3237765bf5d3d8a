/** ANSI styling and cursor control for the live view (no dependency). */

const ESC = '\x1b[';

export const style = {
  bold: (text: string) => `${ESC}1m${text}${ESC}22m`,
  dim: (text: string) => `${ESC}2m${text}${ESC}22m`,
  red: (text: string) => `${ESC}31m${text}${ESC}39m`,
  green: (text: string) => `${ESC}32m${text}${ESC}39m`,
  yellow: (text: string) => `${ESC}33m${text}${ESC}39m`,
  magenta: (text: string) => `${ESC}35m${text}${ESC}39m`,
  cyan: (text: string) => `${ESC}36m${text}${ESC}39m`,
};

export const cursor = {
  hide: `${ESC}?25l`,
  show: `${ESC}?25h`,
  /** Up `lines` lines, to column 0. */
  up: (lines: number) => (lines > 0 ? `${ESC}${lines}F` : '\r'),
  clearLine: `${ESC}2K`,
  clearDown: `${ESC}J`,
};

const ESCAPE = /\x1b\[[0-9;?]*[A-Za-z]/y;

/** The visible part of `line` cut to `width` columns, escape codes kept (and styles reset when cut). */
export function fit(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; ) {
    ESCAPE.lastIndex = i;
    const escape = ESCAPE.exec(line);
    if (escape) {
      out += escape[0];
      i += escape[0].length;
      continue;
    }
    const char = String.fromCodePoint(line.codePointAt(i)!);
    if (visible === width) return `${out}${ESC}0m`;
    out += char;
    visible++;
    i += char.length;
  }
  return out;
}

export function stripAnsi(text: string): string {
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}
