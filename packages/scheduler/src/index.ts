export { Scheduler, type SchedulerOptions, type SchedulerEvents } from './scheduler.js';
export { Leadership } from './leadership.js';
export { QueueScheduler, type RunOnceResult } from './queue-scheduler.js';
export { ScheduleRunner, type ScheduleRoundResult } from './schedule-runner.js';
