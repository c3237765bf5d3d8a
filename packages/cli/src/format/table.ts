/** One column of a table: its header and how a row shows in it. */
export interface Column<Row> {
  header: string;
  value(row: Row): string;
  /** Numbers read best right-aligned. */
  align?: 'right';
}

/** Longest cell shown; longer values are cut with an ellipsis. */
const MAX_CELL = 60;

/**
 * A plain-text table: upper-case headers, columns padded to their widest
 * cell and two spaces apart, no trailing spaces. Readable on a terminal and
 * easy to `grep` or `awk` in a pipe.
 */
export function renderTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string {
  const cells = [columns.map((column) => column.header.toUpperCase()), ...rows.map((row) => columns.map((column) => cut(column.value(row))))];
  const widths = columns.map((_, index) => Math.max(...cells.map((line) => line[index]!.length)));
  return cells
    .map((line) =>
      line
        .map((cell, index) => (columns[index]!.align === 'right' ? cell.padStart(widths[index]!) : cell.padEnd(widths[index]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `label: value` lines with the labels padded to one width; a value's further lines are indented under its first. */
export function renderFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(...fields.map(([label]) => label.length)) + 3;
  return fields
    .map(([label, value]) => `${`${label}:`.padEnd(width)}${value.replace(/\n/g, `\n${' '.repeat(width)}`)}`)
    .join('\n');
}

function cut(value: string): string {
  const line = value.replace(/\s*\n\s*/g, ' ');
  return line.length > MAX_CELL ? `${line.slice(0, MAX_CELL - 1)}…` : line;
}
