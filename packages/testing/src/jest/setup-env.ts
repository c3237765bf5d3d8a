// Tests are silent unless asked otherwise (STREAMJOBS_LOG_LEVEL=debug pnpm test).
process.env.STREAMJOBS_LOG_LEVEL ??= 'silent';
