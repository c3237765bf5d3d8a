/** Something the user asked for cannot be done: exit code 1, the message on stderr. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** The command line itself is wrong (unknown command or option, missing argument): exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
