export { collectMetrics, type MetricsOptions, type StreamJobsMetrics } from './collect-metrics.js';
export { DEFAULT_BUCKETS } from './metric-set.js';
