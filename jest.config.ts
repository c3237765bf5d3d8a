/** @jest-config-loader esbuild-register */
import type { Config } from 'jest';

// Every test talks to a real Redis: packages/testing's global setup (run from its
// build output, which the test command builds first) provides one
// (REDIS_URL, else a redis-server it spawns, else testcontainers).
const shared = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'es6' } },
    ],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  // Resolve workspace packages to their TypeScript sources (the "source" export condition).
  testEnvironmentOptions: { customExportConditions: ['source', 'node', 'node-addons'] },
} satisfies Config;

const config: Config = {
  projects: [
    {
      ...shared,
      displayName: 'single',
      testMatch: [
        '<rootDir>/packages/*/test/**/*.test.ts',
        // each example's test sits beside it; the local cluster's beside its code
        '<rootDir>/examples/*/*.test.ts',
        '<rootDir>/scripts/local-cluster/*.test.ts',
      ],
      // cluster-only tests (they need the cluster project's Redis Cluster)
      testPathIgnorePatterns: ['/node_modules/', '/test/cluster/'],
      globalSetup: '<rootDir>/packages/testing/dist/jest/global-setup.js',
      globalTeardown: '<rootDir>/packages/testing/dist/jest/global-teardown.js',
      setupFiles: ['<rootDir>/packages/testing/src/jest/setup-env.ts'],
    },
    {
      // The suites of the semantics a cluster could break, again against a
      // 3-master Redis Cluster (packages/testing/src/jest/cluster-*.ts).
      ...shared,
      displayName: 'cluster',
      testMatch: [
        '<rootDir>/packages/*/test/cluster/*.test.ts',
        '<rootDir>/packages/worker/test/crash-reclaim.test.ts',
        '<rootDir>/packages/worker/test/priority.test.ts',
        '<rootDir>/packages/worker/test/cancel.test.ts',
        '<rootDir>/packages/worker/test/cancel-processes.test.ts',
        '<rootDir>/packages/worker/test/resume.test.ts',
        '<rootDir>/packages/scheduler/test/schedules.test.ts',
        '<rootDir>/packages/scheduler/test/delayed.test.ts',
      ],
      globalSetup: '<rootDir>/packages/testing/dist/jest/cluster-global-setup.js',
      globalTeardown: '<rootDir>/packages/testing/dist/jest/cluster-global-teardown.js',
      setupFiles: ['<rootDir>/packages/testing/src/jest/setup-env.ts', '<rootDir>/packages/testing/src/jest/cluster-env.ts'],
    },
  ],
  testTimeout: 120_000,
  // Two cores: more parallel files only make the timing-sensitive ones slower.
  maxWorkers: 2,
};

export default config;
