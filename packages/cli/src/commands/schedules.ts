import type { ScheduleInfo } from '@streamjobs/core';
import { renderTable, type Column } from '../format/table.js';
import { formatDuration, formatRelative } from '../format/time.js';
import { queueOnly, type Command } from './command.js';

export const schedulesCommand: Command<{ queue: string }> = {
  name: 'schedules',
  usage: '<queue>',
  summary: 'repeat schedules: spec, next and last run, runs, missed and skipped occurrences',
  parse: queueOnly,
  async run(session, { queue: name }) {
    return session.withQueue(name, async ({ queue }) => {
      const schedules = await queue.schedules();
      if (schedules.length === 0) return { data: [], text: `no schedules in queue "${name}"` };
      const now = await session.now();
      const at = (ms: number | undefined) => (ms === undefined ? '-' : `${shortInstant(ms)} (${formatRelative(ms, now)})`);
      const columns: Column<ScheduleInfo>[] = [
        { header: 'id', value: (info) => info.id },
        { header: 'spec', value: describeSpec },
        { header: 'catch-up', value: (info) => info.spec.catchUp },
        { header: 'overlap', value: (info) => info.spec.overlap },
        { header: 'next run', value: (info) => at(info.nextRunAt) },
        { header: 'last run', value: (info) => at(info.lastRunAt) },
        { header: 'runs', value: (info) => String(info.runs), align: 'right' },
        { header: 'missed', value: (info) => String(info.missed), align: 'right' },
        { header: 'skipped', value: (info) => String(info.skipped), align: 'right' },
        { header: 'status', value: (info) => (info.ended ? 'ended' : info.paused ? 'paused' : 'active') },
      ];
      return { data: schedules, text: renderTable(columns, schedules) };
    });
  },
};

function describeSpec({ spec }: ScheduleInfo): string {
  return spec.cron === undefined ? `every ${formatDuration(spec.every ?? 0)}` : `cron ${spec.cron}${spec.tz ? ` ${spec.tz}` : ''}`;
}

/** UTC to the second: enough for a table (the JSON has the exact ms). */
function shortInstant(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
