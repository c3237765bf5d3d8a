export * from './redis-server.js';
export * from './helpers.js';
export * from './child-process.js';
export type * from './fixture-types.js';
export * from './fixtures/chaos-types.js';
export * from './redis-cluster.js';
export * from './random.js';
