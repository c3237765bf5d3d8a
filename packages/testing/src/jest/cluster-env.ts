// The jest project `cluster` runs its files against the Redis Cluster its
// global setup started: every helper (connection(), rawClient(), fixtures'
// `url`) follows REDIS_URL.
process.env.REDIS_URL = process.env.REDIS_CLUSTER_URL;
