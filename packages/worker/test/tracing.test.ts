import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SpanKind, SpanStatusCode, context, propagation, trace, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { InvalidOptionsError, Queue, type QueueOptions } from '@streamjobs/core';
import { Worker, type Handler, type WorkerOptions } from '@streamjobs/worker';
import { OpenResources, connection, nextEvent, rawClient, testPrefix, waitUntil } from '@streamjobs/testing';

// The OpenTelemetry set-up of an application: a provider exporting to memory,
// AsyncLocalStorage for the active context, W3C trace context on the wire.
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();
const tracer = trace.getTracer('tracing-test');

const open = new OpenResources();
let redis: Awaited<ReturnType<typeof rawClient>>;

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  redis = await rawClient();
});

afterAll(async () => {
  await open.closeAll();
  redis.destroy();
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

function setUp(queueName: string, handler: Handler, options: { queue?: Partial<QueueOptions>; worker?: Partial<WorkerOptions> } = {}) {
  const prefix = testPrefix();
  const queue = open.track(new Queue(queueName, { connection: connection(), prefix, tracing: true, ...options.queue }));
  const worker = open.track(
    new Worker(queueName, handler, { connection: connection(), prefix, tracing: true, ...options.worker }),
  );
  return { queue, worker };
}

/** Runs `fn` inside a new active span (the producer: say, an HTTP request handler). */
async function inProducerSpan<T>(fn: (span: Span) => Promise<T>): Promise<{ span: Span; value: T }> {
  return tracer.startActiveSpan('POST /signup', async (span) => {
    try {
      return { span, value: await fn(span) };
    } finally {
      span.end();
    }
  });
}

function spansOf(jobId: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.attributes['messaging.message.id'] === jobId);
}

function storedTrace(queue: Queue, jobId: string): Promise<string | null> {
  return redis.hGet(queue.keys.job(jobId), 'trace');
}

describe('tracing', () => {
  it("runs the handler in a CONSUMER span linked to the span that added the job", async () => {
    let handlerSpanId: string | undefined;
    let childOfHandler: ReadableSpan | undefined;
    const { queue } = setUp('traced', async () => {
      handlerSpanId = trace.getActiveSpan()?.spanContext().spanId;
      // the handler's own spans are children of the job's span
      tracer.startActiveSpan('send email', (child) => {
        child.end();
        childOfHandler = child as unknown as ReadableSpan;
      });
      return 'sent';
    });

    const { span: producer, value: job } = await inProducerSpan(() => queue.add('welcome', { to: 'a@b.c' }, { priority: 'high' }));
    expect(JSON.parse((await storedTrace(queue, job.id))!)).toEqual({
      traceparent: expect.stringContaining(producer.spanContext().traceId),
    });
    expect((await queue.waitFor(job.id, { timeoutMs: 20_000 })).state).toBe('completed');

    const [span, ...others] = await waitUntil(() => (spansOf(job.id).length > 0 ? spansOf(job.id) : undefined), {
      message: "the job's span",
    });
    expect(others).toEqual([]);
    expect(span!.name).toBe('process traced');
    expect(span!.kind).toBe(SpanKind.CONSUMER);
    // linked to the producer, in a trace of its own (a link, not a parent)
    expect(span!.links.map((link) => link.context)).toEqual([
      expect.objectContaining({ traceId: producer.spanContext().traceId, spanId: producer.spanContext().spanId }),
    ]);
    expect(span!.spanContext().traceId).not.toBe(producer.spanContext().traceId);
    expect(span!.parentSpanContext).toBeUndefined();
    expect(span!.attributes).toMatchObject({
      'messaging.system': 'streamjobs',
      'messaging.destination.name': 'traced',
      'messaging.message.id': job.id,
      'streamjobs.job.name': 'welcome',
      'streamjobs.job.priority': 'high',
      'streamjobs.job.attempt': 1,
      'streamjobs.job.outcome': 'completed',
    });
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    // the handler ran with the job's span active
    expect(handlerSpanId).toBe(span!.spanContext().spanId);
    expect(childOfHandler!.parentSpanContext?.spanId).toBe(span!.spanContext().spanId);
  });

  it('gives each attempt its own span, linked to the same producer; failed attempts are errors', async () => {
    const { queue } = setUp('traced-retry', async (job) => {
      if (job.attempt === 1) throw new Error('smtp timeout');
      return 'sent';
    });
    const { span: producer, value: jobs } = await inProducerSpan(() =>
      queue.addBulk([
        { name: 'flaky', data: {}, opts: { attempts: 2 } },
        { name: 'hopeless', data: {}, opts: { attempts: 1 } },
      ]),
    );
    const [flaky, hopeless] = jobs;
    await Promise.all(jobs.map((job) => queue.waitFor(job.id, { timeoutMs: 20_000 })));
    const flakySpans = await waitUntil(() => (spansOf(flaky!.id).length === 2 ? spansOf(flaky!.id) : undefined), {
      message: 'two spans of the flaky job',
    });
    const hopelessSpan = await waitUntil(() => spansOf(hopeless!.id)[0], { message: 'the span of the failing job' });

    const byAttempt = [...flakySpans].sort((a, b) => Number(a.attributes['streamjobs.job.attempt']) - Number(b.attributes['streamjobs.job.attempt']));
    expect(byAttempt.map((span) => [span.attributes['streamjobs.job.attempt'], span.attributes['streamjobs.job.outcome'], span.status.code])).toEqual([
      [1, 'retrying', SpanStatusCode.ERROR],
      [2, 'completed', SpanStatusCode.UNSET],
    ]);
    expect(byAttempt[0]!.status.message).toBe('smtp timeout');
    expect(byAttempt[0]!.events.map((event) => event.name)).toEqual(['exception']);
    expect(hopelessSpan.attributes['streamjobs.job.outcome']).toBe('failed');
    expect(hopelessSpan.status.code).toBe(SpanStatusCode.ERROR);
    for (const span of [...flakySpans, hopelessSpan]) {
      expect(span.links.map((link) => link.context.spanId)).toEqual([producer.spanContext().spanId]);
    }
  });

  it('stores no trace context for a job added outside any span, and its span has no link', async () => {
    const { queue } = setUp('untraced-caller', async () => 'done');
    const job = await queue.add('orphan', {});
    expect(await storedTrace(queue, job.id)).toBeNull();
    await queue.waitFor(job.id, { timeoutMs: 20_000 });
    const span = await waitUntil(() => spansOf(job.id)[0], { message: "the job's span" });
    expect(span.links).toEqual([]);
  });

  it('is off unless asked: no trace field, no span', async () => {
    const { queue, worker } = setUp('tracing-off', async () => 'done', { queue: { tracing: false }, worker: { tracing: false } });
    const completed = nextEvent(worker, 'completed'); // emitted once a span would have ended
    const { value: job } = await inProducerSpan(() => queue.add('quiet', {}));
    await completed;
    expect(await storedTrace(queue, job.id)).toBeNull();
    expect(spansOf(job.id)).toEqual([]);
  });

  it('rejects a tracing option that is not a boolean', () => {
    const options = { connection: connection(), tracing: 'yes' as unknown as boolean };
    expect(() => new Queue('bad', options)).toThrow(InvalidOptionsError);
    expect(() => new Worker('bad', async () => undefined, options)).toThrow(InvalidOptionsError);
  });
});
