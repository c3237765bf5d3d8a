import type { JobCounts } from '@streamjobs/core';
import { renderTable, type Column } from '../format/table.js';
import { JOB_STATES, noMorePositionals, type Command } from './command.js';

interface QueueRow extends Omit<JobCounts, 'waitingByTier'> {
  name: string;
  paused: boolean;
}

const count = (header: keyof JobCounts): Column<QueueRow> => ({
  header,
  value: (row) => String(row[header as keyof QueueRow]),
  align: 'right',
});

const COLUMNS: Column<QueueRow>[] = [
  { header: 'queue', value: (row) => row.name },
  { header: 'paused', value: (row) => (row.paused ? 'yes' : 'no') },
  ...JOB_STATES.map(count),
];

export const queuesCommand: Command<void> = {
  name: 'queues',
  usage: '',
  summary: 'list the queues under the prefix, with their job counts',
  parse: (input) => noMorePositionals(input, 0),
  async run(session) {
    const rows: QueueRow[] = [];
    for (const name of await session.queueNames()) {
      rows.push(
        await session.withQueue(name, async ({ queue }) => {
          const [{ waitingByTier: _, ...counts }, paused] = await Promise.all([queue.counts(), queue.isPaused()]);
          return { name, paused, ...counts };
        }),
      );
    }
    const text = rows.length === 0 ? `no queues under prefix "${session.target.prefix}"` : renderTable(COLUMNS, rows);
    return { data: rows, text };
  },
};
