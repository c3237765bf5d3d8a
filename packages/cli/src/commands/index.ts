import { cancelCommand } from './cancel.js';
import type { Command } from './command.js';
import { jobCommand, jobsCommand } from './jobs.js';
import { pauseQueueCommand, resumeQueueCommand } from './pause.js';
import { queuesCommand } from './queues.js';
import { retryCommand } from './retry.js';
import { schedulesCommand } from './schedules.js';
import { statsCommand } from './stats.js';

/** Every command, in the order the usage lists them. */
export const COMMANDS: readonly Command[] = [
  queuesCommand,
  statsCommand,
  jobsCommand,
  jobCommand,
  cancelCommand,
  retryCommand,
  schedulesCommand,
  pauseQueueCommand,
  resumeQueueCommand,
];
