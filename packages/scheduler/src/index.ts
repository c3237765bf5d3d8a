export { Scheduler, DEFAULT_POLL_INTERVAL_MS, type SchedulerOptions, type SchedulerEvents } from './scheduler.js';
export { QueueLoop } from './queue-loop.js';
export { Leadership } from './leadership.js';
export { QueueScheduler, type RunOnceResult } from './queue-scheduler.js';
export { ScheduleRunner, type ScheduleRoundResult } from './schedule-runner.js';
