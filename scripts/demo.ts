/**
 * The demo: a short, visible run of what streamjobs promises, against a real
 * Redis (REDIS_URL, else a redis-server it spawns, as the tests do). Each
 * section sets something up, shows live what happens (on a terminal: a board
 * redrawn in place; otherwise, or with --plain, a line per event), and ends
 * with a verdict line: ✓ and what was shown, or ✗ and what went otherwise.
 * Exits 1 when any section's verdict is ✗.
 * Run with `pnpm demo` (or `pnpm demo --plain`).
 */
import { provideRedis, testPrefix } from '@streamjobs/testing';
import { createRenderer } from './demo/render.js';
import { runSection, type Section } from './demo/section.js';
import { priorities } from './demo/sections/priorities.js';
import { delayedAndRetried } from './demo/sections/delayed-and-retried.js';
import { crashAndReclaim } from './demo/sections/crash-and-reclaim.js';
import { gracefulHandBack } from './demo/sections/graceful-hand-back.js';
import { cancelAnything } from './demo/sections/cancel.js';
import { scheduleCatchUp } from './demo/sections/schedule-catch-up.js';
import { resumeElsewhere } from './demo/sections/resume.js';

const SECTIONS: Section[] = [priorities, delayedAndRetried, crashAndReclaim, gracefulHandBack, cancelAnything, scheduleCatchUp, resumeElsewhere];

const startedAt = Date.now();
const redis = await provideRedis();
const prefix = testPrefix('demo');
const renderer = createRenderer(process.stdout, { plain: process.argv.includes('--plain') });
let failed = 0;
try {
  renderer.header(`streamjobs demo — Redis ${redis.url} (${redis.source}), key prefix ${prefix}`);
  for (const [index, section] of SECTIONS.entries()) {
    const verdict = await runSection(section, index + 1, { redisUrl: redis.url, prefix }, renderer);
    if (!verdict.ok) failed++;
  }
  const took = `${((Date.now() - startedAt) / 1000).toFixed(1)} s`;
  renderer.footer(
    failed === 0 ? `All ${SECTIONS.length} sections shown in ${took}.` : `${failed} of ${SECTIONS.length} sections did not show what they should (${took}).`,
  );
} finally {
  renderer.close();
  await redis.stop();
}
process.exitCode = failed === 0 ? 0 : 1;
