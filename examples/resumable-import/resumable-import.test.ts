/**
 * The resumable import as its README tells it: a worker process imports a
 * CSV batch by batch and is SIGKILLed midway; a second worker process takes
 * the job over after `stallTimeout` and resumes from the last checkpoint:
 * the rows already imported are not read again, the row count (a step) is
 * not redone, and every row ends up imported exactly once.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OpenResources, spawnScript, testPrefix, type FixtureProcess } from '@streamjobs/testing';

const open = new OpenResources();
afterAll(() => open.closeAll());

const ROWS = 400; // 20 batches of 20

function start(name: string, env: NodeJS.ProcessEnv, args: string[] = []): FixtureProcess {
  const proc = spawnScript(fileURLToPath(new URL(`./${name}.ts`, import.meta.url)), { env, args });
  open.track({ close: () => proc.kill('SIGKILL') });
  return proc;
}

/** The highest `checkpoint <job> <rows>` a worker printed. */
function lastCheckpoint(worker: FixtureProcess): number {
  return Math.max(0, ...worker.lines.filter((line) => line.startsWith('checkpoint ')).map((line) => Number(line.split(' ').pop())));
}

describe('examples/resumable-import', () => {
  it('resumes an import killed midway from its checkpoint, importing every row once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'resumable-import-test-'));
    open.track({ close: () => rmSync(dir, { recursive: true, force: true }) });
    const file = join(dir, 'customers.csv');
    const into = join(dir, 'into');
    writeFileSync(file, ['id,name', ...Array.from({ length: ROWS }, (_, i) => `${i + 1},customer ${i + 1}`)].join('\n') + '\n');
    const env = { STREAMJOBS_PREFIX: testPrefix('import'), STALL_TIMEOUT_MS: '3000', BATCH_PAUSE_MS: '200' };

    const first = start('worker', env);
    await first.waitForLine(/^ready /);
    const client = start('add-import', env, [file, into]);
    await client.waitForLine(/^added /);
    await first.waitForLine(/^checkpoint \S+ (4\d|[5-9]\d|\d{3,})$/); // 40 rows or more done
    await first.kill('SIGKILL');
    const killedAt = lastCheckpoint(first);
    expect(killedAt).toBeLessThan(ROWS);

    const second = start('worker', env);
    const resumed = await second.waitForLine(/^resumed /, 60_000);
    const resumedAt = Number(resumed.split(' ').pop());
    // From the last checkpoint saved (the first worker may have saved one more than it printed).
    expect(resumedAt).toBeGreaterThanOrEqual(killedAt);
    expect(resumedAt).toBeLessThanOrEqual(killedAt + 20);

    await client.waitForLine(new RegExp(`^completed ${ROWS} rows into `), 60_000);
    expect(await client.exited).toEqual({ code: 0, signal: null });
    expect(second.lines).toContain(`imported import:${file} ${ROWS}`);
    expect(second.lines.some((line) => line.startsWith('took over 1 job'))).toBe(true);
    // The step ran once, in the first process; the second read no row before the checkpoint.
    expect(first.lines.filter((line) => line.startsWith('counted '))).toEqual([`counted import:${file} ${ROWS}`]);
    expect(second.lines.filter((line) => line.startsWith('counted '))).toEqual([]);
    const secondCheckpoints = second.lines.filter((line) => line.startsWith('checkpoint ')).map((line) => Number(line.split(' ').pop()));
    expect(secondCheckpoints[0]).toBe(resumedAt + 20);
    expect(secondCheckpoints).toHaveLength((ROWS - resumedAt) / 20);

    // Every row imported exactly once.
    const ids = readdirSync(into)
      .filter((name) => name.endsWith('.json'))
      .flatMap((name) => (JSON.parse(readFileSync(join(into, name), 'utf8')) as { id: string }[]).map((row) => Number(row.id)));
    expect(ids.sort((a, b) => a - b)).toEqual(Array.from({ length: ROWS }, (_, i) => i + 1));

    await second.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
  });
});
