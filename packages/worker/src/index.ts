export { Worker, type WorkerOptions, type WorkerEvents } from './worker.js';
export type { Handler, JobContext } from './types.js';
