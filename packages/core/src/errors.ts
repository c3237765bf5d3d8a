/**
 * Every error the library throws on purpose is a `StreamJobsError`, with a
 * stable `code` callers can switch on and the underlying `cause` when there is
 * one. Subclasses exist only where callers handle a case differently.
 */
export class StreamJobsError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option, job id, priority or queue name is not acceptable. Nothing was written. */
export class InvalidOptionsError extends StreamJobsError {
  /** The option path at fault, e.g. `backoff.delay`. */
  readonly option: string;

  constructor(option: string, message: string) {
    super('ERR_INVALID_OPTIONS', `Invalid option "${option}": ${message}`);
    this.option = option;
  }
}

/** Job data or a result is not JSON-serialisable. Nothing was written. */
export class SerializationError extends StreamJobsError {
  constructor(what: string, message: string, options?: { cause?: unknown }) {
    super('ERR_NOT_SERIALIZABLE', `${what} is not JSON-serialisable: ${message}`, options);
  }
}

/** Job data is larger than the queue's `maxPayloadBytes`. Nothing was written. */
export class PayloadTooLargeError extends StreamJobsError {
  readonly size: number;
  readonly limit: number;

  constructor(what: string, size: number, limit: number) {
    super('ERR_PAYLOAD_TOO_LARGE', `${what} is ${size} bytes, over the limit of ${limit} bytes`);
    this.size = size;
    this.limit = limit;
  }
}

/** Redis could not be reached, or the connection dropped during the call. */
export class ConnectionError extends StreamJobsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CONNECTION', message, options);
  }
}

/**
 * This worker no longer owns the job (another worker reclaimed it, or it was
 * handed back): its writes are fenced off and its outcome is discarded.
 */
export class LeaseLostError extends StreamJobsError {
  readonly jobId: string;

  constructor(jobId: string) {
    super('ERR_LEASE_LOST', `Job ${jobId} is no longer owned by this worker`);
    this.jobId = jobId;
  }
}

/** The job does not exist (never added, or removed by retention). */
export class JobNotFoundError extends StreamJobsError {
  constructor(jobId: string) {
    super('ERR_JOB_NOT_FOUND', `Job ${jobId} not found`);
  }
}

/** The operation is not allowed in the job's current state. */
export class InvalidStateError extends StreamJobsError {
  constructor(message: string) {
    super('ERR_INVALID_STATE', message);
  }
}

/** A handler throws this to fail its job at once, without further attempts. */
export class UnrecoverableError extends StreamJobsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_UNRECOVERABLE', message, options);
  }
}

/**
 * The job is canceled. A running handler's signal aborts with this (its
 * `reason` and `by` say why and who, when given); a handler throws it to
 * cancel its own job: the job ends `canceled` and is not retried.
 */
export class JobCanceledError extends StreamJobsError {
  readonly reason: string;
  readonly by: string;

  constructor(reason = '', by = '') {
    super('ERR_JOB_CANCELED', `Job canceled${by ? ` by ${by}` : ''}${reason ? `: ${reason}` : ''}`);
    this.reason = reason;
    this.by = by;
  }
}

/** The handler ran past the job's `timeout`; its signal was aborted with this. */
export class JobTimeoutError extends StreamJobsError {
  constructor(timeoutMs: number) {
    super('ERR_JOB_TIMEOUT', `Job timed out after ${timeoutMs} ms`);
  }
}

/** `waitFor` gave up before the job reached a final state. */
export class WaitTimeoutError extends StreamJobsError {
  constructor(jobId: string, timeoutMs: number) {
    super('ERR_WAIT_TIMEOUT', `Job ${jobId} did not finish within ${timeoutMs} ms`);
  }
}

/** The object was closed; create a new one. */
export class ClosedError extends StreamJobsError {
  constructor(what: string) {
    super('ERR_CLOSED', `${what} is closed`);
  }
}
