import type { JobState } from '@streamjobs/core';
import { renderTable } from '../format/table.js';
import { positional, stringOption, type Command } from './command.js';

interface CancelRow {
  id: string;
  result: 'canceled' | 'already final' | 'not found';
  /** The job's state after the call. */
  state: JobState | null;
}

export const cancelCommand: Command<{ queue: string; ids: string[]; reason: string | undefined }> = {
  name: 'cancel',
  usage: '<queue> <id...>',
  summary: 'cancel jobs in any state: waiting and delayed ones never start, running ones are aborted',
  options: { '--reason <text>': 'why, stored with the job and given to its handler' },
  parse(input) {
    const queue = positional(input, 0, 'queue');
    positional(input, 1, 'id');
    return { queue, ids: input.positionals.slice(1), reason: stringOption(input, 'reason') };
  },
  async run(session, { queue: name, ids, reason }) {
    return session.withQueue(name, async ({ queue }) => {
      const canceled = await queue.cancel(ids, { by: 'cli', ...(reason === undefined ? {} : { reason }) });
      const after = await Promise.all(ids.map((id) => queue.getJob(id)));
      const rows = ids.map((id, index): CancelRow => {
        const job = after[index];
        const result = canceled[index] ? 'canceled' : job ? 'already final' : 'not found';
        return { id, result, state: job?.state ?? null };
      });
      const missing = rows.filter((row) => row.result === 'not found').map((row) => row.id);
      return {
        data: rows,
        text: renderTable(
          [
            { header: 'id', value: (row: CancelRow) => row.id },
            { header: 'result', value: (row) => row.result },
            { header: 'state', value: (row) => row.state ?? '-' },
          ],
          rows,
        ),
        ...(missing.length > 0 ? { failure: `not found in queue "${name}": ${missing.join(', ')}` } : {}),
      };
    });
  },
};
