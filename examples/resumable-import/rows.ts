/** The import's source and destination: a CSV file read in batches, and a directory of batch files. */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type Row = Record<string, string>;

/** Data rows of a CSV file with a header line. */
export async function countRows(file: string): Promise<number> {
  return (await readCsv(file)).lines.length;
}

/** Up to `count` rows from `offset` (0 = the first data row). A real import would stream from the offset. */
export async function readRows(file: string, offset: number, count: number): Promise<Row[]> {
  const { columns, lines } = await readCsv(file);
  return lines.slice(offset, offset + count).map((line) => {
    const values = line.split(',');
    return Object.fromEntries(columns.map((column, i) => [column, values[i] ?? '']));
  });
}

/**
 * Writes the rows starting at `offset` as one file named after it, replaced
 * whole (written aside, then renamed): doing a batch again after a crash
 * overwrites it, so every row ends up stored exactly once.
 */
export async function upsertBatch(dir: string, offset: number, rows: Row[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `rows-${String(offset).padStart(9, '0')}.json`);
  await writeFile(`${file}.tmp`, JSON.stringify(rows));
  await rename(`${file}.tmp`, file);
}

async function readCsv(file: string): Promise<{ columns: string[]; lines: string[] }> {
  const [header = '', ...lines] = (await readFile(file, 'utf8')).split('\n').filter((line) => line !== '');
  return { columns: header.split(','), lines };
}
