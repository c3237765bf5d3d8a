/** @jest-config-loader esbuild-register */
import type { Config } from 'jest';

// Every test talks to a real Redis: packages/testing's global setup (run from its
// build output, which the test command builds first) provides one
// (REDIS_URL, else a redis-server it spawns, else testcontainers).
const config: Config = {
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
  testMatch: [
    '<rootDir>/packages/*/test/**/*.test.ts',
    // each example's test sits beside it; the local cluster's beside its code
    '<rootDir>/examples/*/*.test.ts',
    '<rootDir>/scripts/local-cluster/*.test.ts',
  ],
  globalSetup: '<rootDir>/packages/testing/dist/jest/global-setup.js',
  globalTeardown: '<rootDir>/packages/testing/dist/jest/global-teardown.js',
  setupFiles: ['<rootDir>/packages/testing/src/jest/setup-env.ts'],
  testTimeout: 120_000,
  // Two cores: more parallel files only make the timing-sensitive ones slower.
  maxWorkers: 2,
};

export default config;
