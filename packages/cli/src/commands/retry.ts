import { InvalidOptionsError, type Queue } from '@streamjobs/core';
import { UsageError } from '../errors.js';
import { renderTable } from '../format/table.js';
import { positional, type Command } from './command.js';

interface RetryRow {
  id: string;
  result: 'requeued' | 'not dead-lettered' | 'not found' | 'unreadable entry';
}

/** Dead letters are read in pages of this many for `--all`. */
const PAGE = 500;

export const retryCommand: Command<{ queue: string; all: boolean; named: string[] }> = {
  name: 'retry',
  usage: '<queue> (<id...> | --all)',
  summary: 'run dead-lettered (failed) jobs again, with fresh attempts',
  options: { '--all': 'every dead-lettered job of the queue, oldest first' },
  parse(input) {
    const queue = positional(input, 0, 'queue');
    const all = input.options.all === true;
    const named = input.positionals.slice(1);
    if (all === named.length > 0) throw new UsageError('give the ids of the jobs to retry, or --all (not both)');
    return { queue, all, named };
  },
  async run(session, { queue: name, all, named }) {
    return session.withQueue(name, async ({ queue }) => {
      const ids = all ? await allDeadLetterIds(queue) : named;
      const rows: RetryRow[] = [];
      for (const id of ids) rows.push({ id, result: await retryOne(queue, id) });
      // with --all, unreadable entries are reported, not an error: they were not asked for by name
      const failed = all ? [] : rows.filter((row) => row.result !== 'requeued');
      const text =
        rows.length === 0
          ? `no dead-lettered jobs in queue "${name}"`
          : renderTable(
              [
                { header: 'id', value: (row: RetryRow) => row.id },
                { header: 'result', value: (row) => row.result },
              ],
              rows,
            );
      return {
        data: rows,
        text,
        ...(failed.length > 0 ? { failure: `not requeued: ${failed.map((row) => `${row.id} (${row.result})`).join(', ')}` } : {}),
      };
    });
  },
};

async function retryOne(queue: Queue, id: string): Promise<RetryRow['result']> {
  try {
    if (await queue.retryDead(id)) return 'requeued';
  } catch (err) {
    if (err instanceof InvalidOptionsError) return 'unreadable entry';
    throw err;
  }
  return (await queue.getJob(id)) ? 'not dead-lettered' : 'not found';
}

/** Every dead letter's id, read before any is retried (retrying takes it out of the set). */
async function allDeadLetterIds(queue: Queue): Promise<string[]> {
  const ids: string[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const page = await queue.deadLetters({ offset, count: PAGE });
    if (page.length === 0) return ids;
    ids.push(...page.map((job) => job.id));
  }
}
