import { jobIdsInState, type Job, type JobState, type Page } from '@streamjobs/core';
import { CliError, UsageError } from '../errors.js';
import { renderFields, renderTable, type Column } from '../format/table.js';
import { formatInstant, formatRelative } from '../format/time.js';
import { JOB_STATES, integerOption, noMorePositionals, positional, stringOption, type Command } from './command.js';

/** The instant that matters for a job in each state, and its column header. */
const WHEN: Record<JobState, [string, (job: Job) => number | undefined]> = {
  waiting: ['created', (job) => job.createdAt],
  active: ['started', (job) => job.startedAt],
  delayed: ['due', (job) => job.dueAt],
  completed: ['finished', (job) => job.finishedAt],
  failed: ['finished', (job) => job.finishedAt],
  canceled: ['finished', (job) => job.finishedAt],
};

export const jobsCommand: Command<{ queue: string; state: JobState; page: Page }> = {
  name: 'jobs',
  usage: '<queue>',
  summary: 'list jobs in one state: waiting and active in start order, delayed soonest first, the rest newest first',
  options: {
    '--state <state>': `${JOB_STATES.join(' | ')} (default waiting)`,
    '--count <n>': 'how many (default 20, at most 1000)',
    '--offset <n>': 'skip the first n (default 0)',
  },
  parse(input) {
    const queue = positional(input, 0, 'queue');
    noMorePositionals(input, 1);
    const state = (stringOption(input, 'state') ?? 'waiting') as JobState;
    if (!(JOB_STATES as readonly string[]).includes(state)) throw new UsageError(`--state must be one of ${JOB_STATES.join(', ')} (got "${state}")`);
    const page = { offset: integerOption(input, 'offset', 0), count: integerOption(input, 'count', 20, { min: 1, max: 1000 }) };
    return { queue, state, page };
  },
  async run(session, { queue: name, state, page }) {
    return session.withQueue(name, async ({ queue, ctx }) => {
      const ids = await jobIdsInState(ctx, state, page);
      // a job can be removed (retention) between the listing and the read
      const jobs = (await Promise.all(ids.map((id) => queue.getJob(id)))).filter((job): job is Job => job !== null);
      if (jobs.length === 0) return { data: [], text: `no ${state} jobs in queue "${name}"${page.offset ? ` from offset ${page.offset}` : ''}` };
      const now = await session.now();
      const [header, when] = WHEN[state];
      const columns: Column<Job>[] = [
        { header: 'id', value: (job) => job.id },
        { header: 'name', value: (job) => job.name },
        { header: 'state', value: (job) => job.state },
        { header: 'priority', value: (job) => job.priority },
        { header: 'attempt', value: (job) => `${job.attempt}/${job.opts.attempts}`, align: 'right' },
        { header, value: (job) => relative(when(job), now) },
        { header: 'detail', value: detail },
      ];
      return { data: jobs, text: renderTable(columns, jobs) };
    });
  },
};

export const jobCommand: Command<{ queue: string; id: string }> = {
  name: 'job',
  usage: '<queue> <id>',
  summary: 'one job in full: state, times, data, result, checkpoint, error and stack',
  parse(input) {
    const queue = positional(input, 0, 'queue');
    const id = positional(input, 1, 'id');
    noMorePositionals(input, 2);
    return { queue, id };
  },
  async run(session, { queue: name, id }) {
    return session.withQueue(name, async ({ queue }) => {
      const job = await queue.getJob(id);
      if (!job) throw new CliError(`job "${id}" not found in queue "${name}" (never added, or removed by its retention)`);
      return { data: job, text: describeJob(job, await session.now()) };
    });
  },
};

function describeJob(job: Job, now: number): string {
  const fields: [string, string | undefined][] = [
    ['id', job.id],
    ['name', job.name],
    ['state', job.state],
    ['priority', `${job.priority} (tier ${job.tier})`],
    ['attempt', `${job.attempt} of ${job.opts.attempts} (${job.attemptsMade} failed, ${job.stalls} stalled)`],
    ['created', formatInstant(job.createdAt, now)],
    ['due', job.dueAt === undefined ? undefined : formatInstant(job.dueAt, now)],
    ['started', job.startedAt === undefined ? undefined : formatInstant(job.startedAt, now)],
    ['finished', job.finishedAt === undefined ? undefined : formatInstant(job.finishedAt, now)],
    ['schedule', job.scheduleId === undefined ? undefined : `${job.scheduleId}, run for ${formatInstant(job.scheduledFor, now)}`],
    ['canceled', job.state === 'canceled' ? [job.cancelReason, job.canceledBy && `by ${job.canceledBy}`].filter(Boolean).join(' ') || '-' : undefined],
    ['progress', json(job.progress)],
    ['data', json(job.data)],
    ['result', json(job.result)],
    ['checkpoint', job.checkpoint === null ? '-' : json(job.checkpoint)],
    ['error', job.error],
    ['stack', job.stack],
  ];
  return renderFields(fields.filter((field): field is [string, string] => field[1] !== undefined));
}

/** What says most about a job in its state: its result, why it failed or was canceled, its progress, the last error. */
function detail(job: Job): string {
  switch (job.state) {
    case 'completed':
      return JSON.stringify(job.result) ?? '';
    case 'canceled':
      return job.cancelReason ?? '';
    case 'active':
      return job.progress === undefined ? '' : `progress ${JSON.stringify(job.progress)}`;
    default:
      return job.error ?? ''; // failed, or waiting for a retry
  }
}

function relative(at: number | undefined, now: number): string {
  return at === undefined ? '-' : formatRelative(at, now);
}

function json(value: unknown): string | undefined {
  return value === undefined ? undefined : JSON.stringify(value, null, 2);
}
