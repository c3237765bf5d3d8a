/**
 * A standalone scheduler for the `cron` queue: it turns the schedules'
 * occurrences into jobs. Stop it (Ctrl-C), wait a few seconds, start it again:
 * the occurrences that passed meanwhile are missed, and each schedule's
 * `catchUp` policy decides which of them run now.
 *
 * Prints `leading`, then for each round that did something:
 * `queued <n> occurrence(s), <m> missed`.
 */
import { Scheduler } from '@streamjobs/scheduler';
import { connection, prefix } from '../redis.js';

const scheduler = new Scheduler({ connection, prefix, queues: ['cron'] });
scheduler.on('leader:elected', () => console.log('leading'));
scheduler.on('schedules:materialised', ({ created, missed }) => console.log(`queued ${created} occurrence(s), ${missed} missed`));
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void scheduler.close());
