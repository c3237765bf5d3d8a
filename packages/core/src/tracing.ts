/**
 * OpenTelemetry tracing, opt-in (`tracing: true` on a Queue or a Worker).
 * `@opentelemetry/api` is an optional peer dependency: it is imported only
 * when tracing is turned on, once per process, so a user who leaves tracing
 * off pays nothing, not even the import, and need not install it.
 *
 * - Producer: `add()` and `addBulk()` inject the caller's active context with
 *   the registered propagator (W3C `traceparent`, by default) into a carrier,
 *   stored as JSON in the job hash's `trace` field. No active trace, no field.
 * - Consumer: each attempt runs in a CONSUMER span `process <queue>`, a root
 *   span with a link to the stored context (a link, not a parent, as the
 *   OpenTelemetry messaging conventions advise: a job may run long after it
 *   was added, and once per attempt). The handler runs with that span active.
 *
 * Only this module touches the OpenTelemetry API; its exports name none of
 * its types, so declarations compile without the package.
 */
import type * as Otel from '@opentelemetry/api';
import { InvalidOptionsError } from './errors.js';

type OtelApi = typeof Otel;

/** One attempt, as its span describes it. */
export interface TracedAttempt {
  queue: string;
  jobId: string;
  jobName: string;
  /** Tier name. */
  priority: string;
  attempt: number;
  /** The job's stored `trace` field: the producer's context (JSON carrier), if any. */
  trace: string | undefined;
}

/** How an attempt ended: `reply` is what the worker recorded, `error` what the handler threw. */
export interface TracedOutcome {
  reply: string;
  error?: Error;
}

export interface JobTracing {
  /** The caller's active trace context as a JSON carrier, or undefined outside any trace. */
  capture(): string | undefined;
  /** Runs `attempt` inside its span, active for everything `attempt` calls (the handler). */
  runAttempt<T extends TracedOutcome>(traced: TracedAttempt, attempt: () => Promise<T>): Promise<T>;
}

/** Attempts ending so are errors of the job; `completed` and `canceled` are not. */
const ERROR_REPLIES = new Set(['retrying', 'failed', 'lost']);

let loading: Promise<JobTracing> | undefined;

/** The `tracing` option of a Queue or Worker: whether tracing is on. */
export function tracingEnabled(value: unknown): boolean {
  if (value !== undefined && typeof value !== 'boolean') throw new InvalidOptionsError('tracing', 'must be a boolean');
  return value === true;
}

/**
 * Loads `@opentelemetry/api` (once per process) and returns the tracing
 * helpers. Rejects with `InvalidOptionsError` when the package is missing.
 */
export function loadTracing(): Promise<JobTracing> {
  loading ??= import('@opentelemetry/api').then(
    (module) => new OtelJobTracing(apiOf(module)),
    (err: unknown) => {
      loading = undefined;
      throw new InvalidOptionsError(
        'tracing',
        `needs the package @opentelemetry/api, which could not be loaded (${(err as Error).message})`,
      );
    },
  );
  return loading;
}

/** Node's import of the API's CommonJS build may put its exports under `default`. */
function apiOf(module: unknown): OtelApi {
  const api = module as OtelApi & { default?: OtelApi };
  return api.trace === undefined && api.default !== undefined ? api.default : api;
}

class OtelJobTracing implements JobTracing {
  private readonly tracer: Otel.Tracer;

  constructor(private readonly api: OtelApi) {
    this.tracer = api.trace.getTracer('streamjobs');
  }

  capture(): string | undefined {
    const carrier: Record<string, string> = {};
    this.api.propagation.inject(this.api.context.active(), carrier);
    return Object.keys(carrier).length > 0 ? JSON.stringify(carrier) : undefined;
  }

  async runAttempt<T extends TracedOutcome>(traced: TracedAttempt, attempt: () => Promise<T>): Promise<T> {
    const { api } = this;
    const producer = this.producerContext(traced.trace);
    const span = this.tracer.startSpan(
      `process ${traced.queue}`,
      {
        kind: api.SpanKind.CONSUMER,
        links: producer ? [{ context: producer }] : [],
        attributes: {
          'messaging.system': 'streamjobs',
          'messaging.operation.type': 'process',
          'messaging.destination.name': traced.queue,
          'messaging.message.id': traced.jobId,
          'streamjobs.job.name': traced.jobName,
          'streamjobs.job.priority': traced.priority,
          'streamjobs.job.attempt': traced.attempt,
        },
      },
      api.ROOT_CONTEXT, // not a child of whatever was active when the worker started
    );
    try {
      const outcome = await api.context.with(api.trace.setSpan(api.ROOT_CONTEXT, span), attempt);
      span.setAttribute('streamjobs.job.outcome', outcome.reply);
      if (outcome.error && outcome.reply !== 'completed') span.recordException(outcome.error);
      if (ERROR_REPLIES.has(outcome.reply)) {
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: outcome.error?.message ?? outcome.reply });
      }
      return outcome;
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: api.SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  }

  /** The producer's span context from a stored carrier; none when absent or unreadable. */
  private producerContext(trace: string | undefined): Otel.SpanContext | undefined {
    if (!trace) return undefined;
    let carrier: unknown;
    try {
      carrier = JSON.parse(trace);
    } catch {
      return undefined; // a damaged field costs the link, never the job
    }
    const context = this.api.propagation.extract(this.api.ROOT_CONTEXT, carrier);
    const spanContext = this.api.trace.getSpanContext(context);
    return spanContext && this.api.isSpanContextValid(spanContext) ? spanContext : undefined;
  }
}
