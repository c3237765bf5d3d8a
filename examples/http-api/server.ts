/**
 * An HTTP API that adds report jobs; a separate process (worker.ts) runs them.
 * It needs no worker to accept jobs: they wait in Redis until one runs.
 *
 *   POST   /jobs      {"pages": 5, "priority": "high", "delay": 10000} -> 201, the job
 *                     (header Idempotency-Key: k -> job id k: the same request twice adds one job)
 *   GET    /jobs/:id  -> 200, the job (state, progress, result, error...), or 404
 *   DELETE /jobs/:id  -> 200 {"canceled": true} (false if it had already finished), or 404
 *
 * Bad input gets a 400 with the library's error code (an unknown priority, a
 * negative delay...), and nothing is added. Listens on PORT (default 3000; 0
 * picks a free port) and prints `listening on <url>`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ConnectionError, Queue, StreamJobsError, type JobOptions } from '@streamjobs/core';
import { connection, prefix } from '../redis.js';

const queue = new Queue('reports', { connection, prefix });

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const server = createServer((req, res) => {
  route(req, res).catch((err: Error) => send(res, statusOf(err), { error: err.message, code: (err as StreamJobsError).code }));
});

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const id = /^\/jobs\/([^/]+)$/.exec(url.pathname)?.[1];
  if (url.pathname === '/jobs' && req.method === 'POST') return addJob(req, res);
  if (id && req.method === 'GET') {
    const job = await queue.getJob(decodeURIComponent(id));
    if (!job) throw new HttpError(404, 'no such job');
    return send(res, 200, job);
  }
  if (id && req.method === 'DELETE') {
    const jobId = decodeURIComponent(id);
    if (!(await queue.getJob(jobId))) throw new HttpError(404, 'no such job');
    return send(res, 200, { canceled: await queue.cancel(jobId, { reason: 'canceled through the API', by: 'api' }) });
  }
  throw new HttpError(404, 'not found');
}

async function addJob(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = (await readJson(req)) as { pages?: unknown; priority?: string; delay?: number };
  if (!Number.isInteger(body.pages) || (body.pages as number) < 1 || (body.pages as number) > 100) {
    throw new HttpError(400, 'pages must be a whole number from 1 to 100');
  }
  const key = req.headers['idempotency-key'];
  const opts: JobOptions = {
    // The library checks these (and the id) and throws InvalidOptionsError before writing anything.
    ...(body.priority === undefined ? {} : { priority: body.priority }),
    ...(body.delay === undefined ? {} : { delay: body.delay }),
    ...(typeof key === 'string' ? { jobId: key } : {}),
    attempts: 3,
    backoff: { type: 'exponential', delay: 1_000 },
  };
  send(res, 201, await queue.add('report', { pages: body.pages }, opts));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 100_000) throw new HttpError(413, 'body too large');
  }
  try {
    return JSON.parse(body);
  } catch {
    throw new HttpError(400, 'body must be JSON');
  }
}

function statusOf(err: Error): number {
  if (err instanceof HttpError) return err.status;
  if (err instanceof ConnectionError) return 503; // Redis unreachable: nothing was added
  if (err instanceof StreamJobsError) return 400; // invalid options, data or id: nothing was added
  return 500;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

server.listen(Number(process.env.PORT ?? 3000), () => {
  const { port } = server.address() as { port: number };
  console.log(`listening on http://127.0.0.1:${port}`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close(); // stop taking requests; the process ends once the last one is answered
    server.closeIdleConnections();
    void queue.close();
  });
}
