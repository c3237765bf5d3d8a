import { queueOnly, type Command } from './command.js';

/** `pause` and `resume`: the same shape, opposite flags. */
function pauseCommand(name: 'pause' | 'resume'): Command<{ queue: string }> {
  const pausing = name === 'pause';
  return {
    name,
    usage: '<queue>',
    summary: pausing
      ? 'pause a queue: workers start no new job (running ones finish)'
      : 'resume a paused queue: workers start jobs again',
    parse: queueOnly,
    async run(session, { queue: queueName }) {
      return session.withQueue(queueName, async ({ queue }) => {
        const changed = await (pausing ? queue.pause() : queue.resume());
        return { data: { queue: queueName, paused: pausing, changed }, text: message(queueName, pausing, changed) };
      });
    },
  };
}

function message(queue: string, pausing: boolean, changed: boolean): string {
  if (pausing) return changed ? `queue "${queue}" paused: workers start no new job until it is resumed` : `queue "${queue}" was already paused`;
  return changed ? `queue "${queue}" resumed` : `queue "${queue}" was not paused`;
}

export const pauseQueueCommand = pauseCommand('pause');
export const resumeQueueCommand = pauseCommand('resume');
