/**
 * The README's demo (`pnpm demo`, scripts/demo.ts) cannot rot:
 * (a) run as a child process with stdout piped, against the test Redis, it logs
 *     plain lines (no escape codes), shows the events each section is about, ends
 *     every section with a ✓ verdict and exits 0;
 * (b) on a terminal, its live view redraws each frame over the previous one, cut
 *     to the terminal's width, and leaves the verdict and the tier table behind;
 * (c) it type-checks (tsx and jest only strip types).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { redisUrl } from '@streamjobs/testing';
import { Board } from '../../../scripts/demo/board.js';
import { LiveRenderer } from '../../../scripts/demo/render-live.js';
import { cursor, stripAnsi } from '../../../scripts/demo/style.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

const SECTIONS = [
  'Priority tiers',
  'Delayed and retried',
  'Crash and reclaim',
  'Graceful close',
  'Cancel',
  'Schedules and catch-up',
  'Resume',
];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const running = new Set<number>();
afterAll(() => {
  for (const pid of running) process.kill(-pid, 'SIGKILL'); // its whole group: redis-server, fixtures
});

/** Runs `node <args>` from the repo root in a process group of its own; SIGKILLs the group after `timeoutMs`. */
function run(args: string[], timeoutMs: number): Promise<Run> {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, REDIS_URL: redisUrl() },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child.pid!);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child.pid!);
      resolve({ code, signal, stdout, stderr });
    }),
  );
}

describe('the demo', () => {
  it('runs every section to a ✓ verdict and exits 0, as a plain log when piped', async () => {
    const demo = await run(['--import', 'tsx', '--conditions=source', 'scripts/demo.ts'], 80_000);
    const output = `${demo.stdout}\n--- stderr ---\n${demo.stderr}`;
    expect(`exit ${demo.code ?? demo.signal}\n${output}`).toMatch(/^exit 0\n/);
    expect(demo.stdout).not.toContain('\x1b');
    SECTIONS.forEach((title, i) => expect(output).toMatch(new RegExp(`^✓ ${i + 1}\\. ${title} — .+\\(\\d+\\.\\d+s\\)$`, 'm')));
    expect(output).not.toMatch(/^✗/m);
    // the events the sections are about, each on a line of its own
    for (const kind of ['started', 'retried', 'killed', 'reclaimed', 'handed-back', 'aborted', 'canceled', 'caught-up', 'on-time', 'resumed', 'step']) {
      expect(output).toMatch(new RegExp(`^ +\\+\\d+\\.\\d+s  ${kind} +\\S`, 'm'));
    }
    expect(output).toMatch(/^All 7 sections shown in \d+\.\d s\.$/m);
  }, 90_000);

  it('on a terminal, redraws each frame in place within the width, and leaves the verdict and table', () => {
    let written = '';
    const terminal = { isTTY: true, columns: 60, write: (text: string) => (written += text) };
    const renderer = new LiveRenderer(terminal);
    const board = new Board(1, 'Priority tiers', 'a premise long enough to be wrapped onto a second line of the sixty-column terminal', [
      'critical',
      'high',
      'normal',
      'low',
    ]);
    renderer.show(board); // the first frame
    board.track({ id: 'a', name: 'low-0', priority: 'low' });
    board.started({ id: 'b', name: 'critical-1', priority: 'critical' });
    board.log('started', `critical-1 ${'with a very long note '.repeat(5)}`);
    board.waitingFor('one worker');
    const beforeSecond = written.length;
    renderer.draw();
    const firstFrame = written.slice(0, beforeSecond);
    const secondFrame = written.slice(beforeSecond);
    const firstHeight = firstFrame.split('\n').length - 1;
    expect(secondFrame.startsWith(cursor.up(firstHeight))).toBe(true);
    for (const line of secondFrame.split('\n')) expect(stripAnsi(line).length).toBeLessThan(60);
    expect(stripAnsi(secondFrame)).toMatch(/critical +0 +0 +1 +0 +0 +0 +#1/);
    expect(stripAnsi(secondFrame)).toMatch(/low +1 +0 +0 +0 +0 +0/);

    const beforeVerdict = written.length;
    board.conclude({ ok: true, text: 'started highest tier first' });
    renderer.close();
    const final = written.slice(beforeVerdict);
    expect(final.startsWith(cursor.up(secondFrame.split('\n').length - 1) + cursor.clearDown)).toBe(true);
    expect(stripAnsi(final)).toMatch(/^✓ 1\. Priority tiers \d+\.\d+s\n {3}started highest tier first\n/m);
    expect(stripAnsi(final)).toMatch(/critical +0 +0 +1 +0 +0 +0 +#1/);
    expect(final.endsWith(cursor.show)).toBe(true);
  });

  it('type-checks', async () => {
    const tsc = await run([join(root, 'node_modules/typescript/bin/tsc'), '-p', 'scripts/demo'], 60_000);
    expect(`${tsc.code} ${tsc.stdout}${tsc.stderr}`).toBe('0 ');
  }, 70_000);
});
