/**
 * TLS options pass through (issue 7): against a private redis-server that
 * listens on TLS only, with a throwaway CA, `connection: { url: 'rediss://…',
 * socket: { tls: true, ca } }` (or a node-redis client made with those
 * options) reaches Redis through every connection the library opens: the
 * queue's commands and its `waitFor` reader, the worker's commands, its
 * blocking reader and its cancel subscriber, and the embedded scheduler.
 * Without the CA, the certificate is refused: a ConnectionError.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type RedisClientOptions } from 'redis';
import { ConnectionError, Queue, RedisConnection, toRecord, type ConnectionOptions } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import { OpenResources, freePort, nextEvent, startRedisServer, testPrefix, waitUntil } from '@streamjobs/testing';

const open = new OpenResources();
let tlsUrl: string;
let plainUrl: string;
let ca: Buffer;
let admin: RedisConnection;

beforeAll(async () => {
  const certs = makeCertificates();
  open.track({ close: () => rmSync(certs.dir, { recursive: true, force: true }) });
  ca = readFileSync(certs.ca);
  const tlsPort = await freePort();
  const server = await startRedisServer([
    '--tls-port', String(tlsPort),
    '--tls-cert-file', certs.cert,
    '--tls-key-file', certs.key,
    '--tls-ca-cert-file', certs.ca,
    '--tls-auth-clients', 'no',
  ]);
  open.track({ close: () => server.stop() });
  plainUrl = server.url;
  tlsUrl = `rediss://127.0.0.1:${tlsPort}`;
  admin = open.track(RedisConnection.create({ url: tlsUrl, socket: { tls: true, ca } }));
  // From here on the server listens on TLS only.
  const plain = RedisConnection.create({ url: plainUrl });
  await plain.call(['CONFIG', 'SET', 'port', '0']);
  plain.close();
});
afterAll(() => open.closeAll());

/** A throwaway CA and a server certificate for 127.0.0.1 it signed, in a temporary directory. */
function makeCertificates(): { dir: string; ca: string; cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'streamjobs-tls-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=streamjobs test CA',
    '-keyout', file('ca.key'), '-out', file('ca.crt'));
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', file('server.key'), '-out', file('server.csr'));
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-days', '1', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-extfile', file('san.ext'), '-out', file('server.crt'));
  return { dir, ca: file('ca.crt'), cert: file('server.crt'), key: file('server.key') };
}

/** Our connections to the server now, by client name (CLIENT LIST). */
async function clientNames(): Promise<string[]> {
  const list = await admin.call<string>(['CLIENT', 'LIST']);
  return list
    .trim()
    .split('\n')
    .map((line) => toRecord(line.split(' ').flatMap((pair) => pair.split(/=(.*)/s).slice(0, 2))).name ?? '');
}

describe('TLS', () => {
  it('the plain port is closed: only TLS reaches the server', async () => {
    const queue = open.track(new Queue('tls', { connection: { url: plainUrl }, connectTimeout: 500 }));
    await expect(queue.add('job', {})).rejects.toBeInstanceOf(ConnectionError);
  });

  const forms: [string, () => ConnectionOptions][] = [
    ['client options', () => ({ url: tlsUrl, socket: { tls: true, ca } })],
    ['a node-redis client to copy', () => createClient({ url: tlsUrl, socket: { tls: true, ca } } as RedisClientOptions) as ConnectionOptions],
  ];
  it.each(forms)('with %s, every connection of a queue and a worker goes over TLS', async (_label, makeConnection) => {
    const connection = makeConnection();
    const prefix = testPrefix('tls');
    const queue = open.track(new Queue('tls', { connection, prefix }));
    // a long heartbeat: the cancel below can only arrive through the subscriber in time
    const worker = open.track(
      new Worker(
        'tls',
        async (job, { signal }) => {
          if (job.name !== 'cancel-me') return `done ${job.name}`;
          return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
        },
        { connection, prefix, stallTimeout: 120_000, blockTimeout: 60_000 },
      ),
    );
    const errors: Error[] = [];
    worker.on('error', (err) => errors.push(err));
    await worker.waitUntilReady();

    // the worker is idle, blocked on its reader: a new job wakes it
    const blocking = `streamjobs:worker:tls:${worker.consumer}:blocking`;
    const shared = [`streamjobs:commands:${process.pid}`, `streamjobs:notices:${process.pid}`];
    const names = await waitUntil(async () => {
      const now = await clientNames();
      return [blocking, ...shared].every((name) => now.includes(name)) ? now : undefined;
    }, { message: 'blocking reader and the shared command and notice connections connected' });
    // the queue, the worker and its scheduler share one command and one notice connection
    expect(names.filter((name) => name.startsWith('streamjobs:')).sort()).toEqual([...shared, blocking].sort());
    const now = await queue.add('now', null);
    expect(await queue.waitFor(now.id, { timeoutMs: 20_000 })).toMatchObject({ state: 'completed', result: 'done now' });
    const later = await queue.add('later', null, { delay: 200 }); // promoted by the embedded scheduler
    expect(await queue.waitFor(later.id, { timeoutMs: 20_000 })).toMatchObject({ state: 'completed', result: 'done later' });

    const running = await queue.add('cancel-me', null);
    await waitUntil(async () => (await queue.getJob(running.id))?.state === 'active', { message: 'job active' });
    const canceled = nextEvent(worker, 'canceled', { timeoutMs: 20_000 });
    expect(await queue.cancel(running.id)).toBe(true);
    await canceled;

    await worker.close();
    await queue.close();
    expect(errors).toEqual([]);
  });

  it('without the CA the server certificate is refused: ConnectionError', async () => {
    const queue = open.track(new Queue('tls', { connection: { url: tlsUrl, socket: { tls: true } }, connectTimeout: 1_000 }));
    const error = await queue.add('job', {}).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toMatch(/certificate/i);
  });
});
