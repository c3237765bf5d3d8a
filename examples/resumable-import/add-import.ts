/**
 * Adds an import and follows it to the end:
 *
 *   add-import.ts [file.csv] [into-dir]
 *
 * Without a file, writes a sample CSV of 1,000 rows first; without a
 * directory, imports into a new temporary one. Prints `added <job id>`, the
 * job's progress every second, then `completed <rows> rows into <dir>` (exit
 * 0) or `failed: <error>` (exit 1). The job id is the file's path, so
 * adding the same file again follows the same import instead of starting a
 * second one.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Queue } from '@streamjobs/core';
import { connection, prefix } from '../redis.js';
import type { ImportJob } from './worker.js';

const file = resolve(process.argv[2] ?? writeSample(1_000));
const into = resolve(process.argv[3] ?? mkdtempSync(join(tmpdir(), 'import-into-')));
const queue = new Queue('imports', { connection, prefix });
const job = await queue.add<ImportJob>('import', { file, into }, { jobId: `import:${file}`, attempts: 5 });
console.log(`added ${job.id}`);

const timer = setInterval(() => {
  void queue.getJob(job.id).then((current) => console.log(`${current?.state}: ${JSON.stringify(current?.progress ?? null)}`));
}, 1_000);
const done = await queue.waitFor<ImportJob, { imported: number }>(job.id, { timeoutMs: 10 * 60_000 });
clearInterval(timer);
await queue.close();
if (done.state === 'completed') console.log(`completed ${done.result!.imported} rows into ${into}`);
else {
  console.log(`${done.state}: ${done.error}`);
  process.exitCode = 1;
}

function writeSample(rows: number): string {
  const sample = join(mkdtempSync(join(tmpdir(), 'import-sample-')), 'customers.csv');
  const lines = Array.from({ length: rows }, (_, i) => `${i + 1},customer ${i + 1},c${i + 1}@example.com`);
  writeFileSync(sample, ['id,name,email', ...lines].join('\n') + '\n');
  return sample;
}
