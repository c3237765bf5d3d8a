import { parseArgs } from 'node:util';
import { DEFAULT_PREFIX, StreamJobsError } from '@streamjobs/core';
import { COMMANDS } from './commands/index.js';
import type { Command, Input } from './commands/command.js';
import { CliError, UsageError } from './errors.js';
import { Session, type Target } from './session.js';

/** Where the CLI writes, and the environment it reads (a test passes its own). */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
}

const DEFAULT_TIMEOUT_MS = 2_000;

/** Options every command takes. */
const GLOBAL_OPTIONS: Record<string, string> = {
  '--redis <url>': 'Redis to use (default: $REDIS_URL, else redis://127.0.0.1:6379)',
  '--prefix <prefix>': `key prefix of the queues (default: ${DEFAULT_PREFIX})`,
  '--json': 'print JSON instead of tables',
  '--timeout <ms>': `how long to wait for Redis (default: ${DEFAULT_TIMEOUT_MS})`,
  '-h, --help': 'show this help',
};

/** Every option any command takes, for node:util parseArgs. */
const PARSE_OPTIONS = {
  redis: { type: 'string' },
  prefix: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  state: { type: 'string' },
  count: { type: 'string' },
  offset: { type: 'string' },
  reason: { type: 'string' },
  all: { type: 'boolean' },
} as const;

const GLOBAL_NAMES = new Set(['redis', 'prefix', 'json', 'timeout', 'help']);

/**
 * Runs one command line and returns the exit code: 0 done, 1 failed (the
 * reason on stderr, without a stack), 2 the command line is wrong.
 */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (err) {
    return fail(io, err);
  }
  const { command, input } = parsed;
  if (input.options.help) {
    io.stdout(command ? commandUsage(command) : usage());
    return 0;
  }
  if (!command) {
    io.stderr(usage());
    return 2;
  }
  let session: Session | undefined;
  try {
    const args: unknown = command.parse(input);
    session = await Session.open(targetOf(input, io.env));
    const output = await command.run(session, args);
    io.stdout(input.options.json ? JSON.stringify(output.data, null, 2) : output.text);
    if (output.failure) {
      io.stderr(`streamjobs ${command.name}: ${output.failure}`);
      return 1;
    }
    return 0;
  } catch (err) {
    return fail(io, err, command);
  } finally {
    session?.close();
  }
}

function parseCommandLine(argv: readonly string[]): { command: Command | undefined; input: Input } {
  let values: Input['options'];
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: PARSE_OPTIONS, allowPositionals: true, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const [name, ...rest] = positionals;
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (name !== undefined && !command) throw new UsageError(`unknown command "${name}"`);
  const input: Input = { positionals: rest, options: values };
  for (const option of Object.keys(values)) {
    if (GLOBAL_NAMES.has(option)) continue;
    const own = Object.keys(command?.options ?? {}).some((spec) => spec.startsWith(`--${option}`));
    if (!own) throw new UsageError(`--${option} does not apply to ${command ? `"${command.name}"` : 'this command line'}`);
  }
  return { command, input };
}

function targetOf(input: Input, env: NodeJS.ProcessEnv): Target {
  const timeout = input.options.timeout;
  const timeoutMs = timeout === undefined ? DEFAULT_TIMEOUT_MS : Number(timeout);
  if (typeof timeout === 'string' && (!/^\d+$/.test(timeout) || timeoutMs < 1)) {
    throw new UsageError(`--timeout must be a whole number of ms, at least 1 (got ${JSON.stringify(timeout)})`);
  }
  return {
    redis: stringValue(input.options.redis) ?? env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    prefix: stringValue(input.options.prefix) ?? DEFAULT_PREFIX,
    timeoutMs,
  };
}

function stringValue(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Prints why it failed (never a stack) and returns the exit code. */
function fail(io: Io, err: unknown, command?: Command): number {
  const where = command ? `streamjobs ${command.name}` : 'streamjobs';
  if (err instanceof UsageError) {
    io.stderr(`${where}: ${err.message}\n${command ? commandUsage(command) : 'Run "streamjobs --help" for the commands.'}`);
    return 2;
  }
  const known = err instanceof CliError || err instanceof StreamJobsError;
  io.stderr(`${where}: ${known ? (err as Error).message : `unexpected error: ${String((err as Error)?.message ?? err)}`}`);
  return 1;
}

function usage(): string {
  const width = Math.max(...COMMANDS.map((command) => `${command.name} ${command.usage}`.length));
  return [
    'Usage: streamjobs <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((command) => `  ${`${command.name} ${command.usage}`.padEnd(width)}  ${command.summary}`),
    '',
    'Options of every command:',
    optionLines(GLOBAL_OPTIONS),
    '',
    'Exit codes: 0 done, 1 failed (the reason on stderr), 2 wrong command line.',
    'Run "streamjobs <command> --help" for the options of a command.',
  ].join('\n');
}

function commandUsage(command: Command): string {
  const own = command.options ? ['', 'Options:', optionLines(command.options)] : [];
  return [
    `Usage: streamjobs ${command.name} ${command.usage}`.trimEnd() + ' [options]',
    '',
    command.summary,
    ...own,
    '',
    'Options of every command:',
    optionLines(GLOBAL_OPTIONS),
  ].join('\n');
}

function optionLines(options: Record<string, string>): string {
  const width = Math.max(...Object.keys(options).map((spec) => spec.length));
  return Object.entries(options)
    .map(([spec, text]) => `  ${spec.padEnd(width)}  ${text}`)
    .join('\n');
}
