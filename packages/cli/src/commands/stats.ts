import { activeByTier, completionRate, oldestWaiting } from '@streamjobs/core';
import { renderFields, renderTable } from '../format/table.js';
import { formatDuration } from '../format/time.js';
import { JOB_STATES, queueOnly, type Command } from './command.js';

export const statsCommand: Command<{ queue: string }> = {
  name: 'stats',
  usage: '<queue>',
  summary: 'jobs per state and tier, throughput, age of the oldest waiting job',
  parse: queueOnly,
  async run(session, { queue: name }) {
    return session.withQueue(name, async ({ queue, ctx }) => {
      const now = await session.now();
      const [{ waitingByTier, ...counts }, active, paused, throughput, oldest] = await Promise.all([
        queue.counts(),
        activeByTier(ctx),
        queue.isPaused(),
        completionRate(ctx, { now }),
        oldestWaiting(ctx),
      ]);
      const data = {
        queue: name,
        prefix: session.target.prefix,
        paused,
        counts,
        tiers: ctx.tiers.map((tier) => ({ tier, waiting: waitingByTier[tier] ?? 0, active: active[tier] ?? 0 })),
        throughput,
        oldestWaiting: oldest ? { ...oldest, ageMs: Math.max(0, now - oldest.since) } : null,
        now,
      };
      const summary = renderFields([
        ['queue', `${name} (prefix ${session.target.prefix})`],
        ['status', paused ? 'paused: workers start no new job' : 'running'],
        [
          'throughput',
          `${throughput.perSecond.toFixed(2)} jobs/s (${throughput.completed} completed in the last ${formatDuration(throughput.windowMs)})`,
        ],
        ['oldest waiting', data.oldestWaiting ? `${formatDuration(data.oldestWaiting.ageMs)} (job ${data.oldestWaiting.jobId})` : '-'],
      ]);
      const states = renderTable(
        [
          { header: 'state', value: (state: (typeof JOB_STATES)[number]) => state },
          { header: 'jobs', value: (state) => String(counts[state]), align: 'right' },
        ],
        JOB_STATES,
      );
      const tiers = renderTable(
        [
          { header: 'tier', value: (row: (typeof data.tiers)[number]) => row.tier },
          { header: 'waiting', value: (row) => String(row.waiting), align: 'right' },
          { header: 'active', value: (row) => String(row.active), align: 'right' },
        ],
        data.tiers,
      );
      return { data, text: [summary, states, tiers].join('\n\n') };
    });
  },
};
