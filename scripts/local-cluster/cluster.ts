/**
 * The docker-compose topology as plain processes on this machine: one
 * scheduler, one producer and N workers, each running the same entry point as
 * its compose service (scripts/compose-<role>.ts), against one Redis.
 * Scaling down stops the newest workers with SIGTERM, as `docker compose up
 * --scale` does; `stop()` stops the producer first, then everything else.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export type Role = 'worker' | 'producer' | 'scheduler';

export interface ClusterProcess {
  role: Role;
  /** `worker-3`, `producer`, `scheduler`: prefixes the process's output lines. */
  label: string;
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal) once the process has exited. */
  exited: Promise<number | null>;
}

export interface LocalClusterOptions {
  /** Passed to every process on top of this one's (REDIS_URL, STREAMJOBS_PREFIX, ...). */
  env: NodeJS.ProcessEnv;
  /** Where each output line of every process goes, prefixed with its label. */
  output: (line: string) => void;
}

export class LocalCluster {
  readonly workers: ClusterProcess[] = [];
  scheduler: ClusterProcess | undefined;
  producer: ClusterProcess | undefined;
  private workersStarted = 0;

  constructor(private readonly options: LocalClusterOptions) {}

  start(workers: number): void {
    this.scheduler = this.spawn('scheduler', 'scheduler');
    this.startProducer();
    this.scaleWorkers(workers);
  }

  /** Starts workers, or SIGTERMs the newest ones, until `count` run. Returns the exits of those stopped. */
  scaleWorkers(count: number): Promise<(number | null)[]> {
    while (this.workers.length < count) {
      this.workersStarted += 1;
      this.workers.push(this.spawn('worker', `worker-${this.workersStarted}`));
    }
    const stopping = this.workers.splice(count);
    return Promise.all(stopping.map((worker) => terminate(worker)));
  }

  startProducer(): void {
    this.producer ??= this.spawn('producer', 'producer');
  }

  async stopProducer(): Promise<number | null | undefined> {
    const producer = this.producer;
    this.producer = undefined;
    return producer && terminate(producer);
  }

  /** Every process that runs now. */
  get processes(): ClusterProcess[] {
    return [this.scheduler, this.producer, ...this.workers].filter((p): p is ClusterProcess => p !== undefined);
  }

  /** Stops the producer (no new jobs), then the workers and the scheduler; resolves with their exit codes once all have exited. */
  async stop(): Promise<(number | null)[]> {
    const producer = await this.stopProducer();
    const scheduler = this.scheduler;
    this.scheduler = undefined;
    const [workers, schedulerExit] = await Promise.all([this.scaleWorkers(0), scheduler && terminate(scheduler)]);
    return [producer, ...workers, schedulerExit].filter((code) => code !== undefined);
  }

  private spawn(role: Role, label: string): ClusterProcess {
    const script = fileURLToPath(new URL(`../compose-${role}.ts`, import.meta.url));
    const child = spawn(process.execPath, ['--import=tsx', '--conditions=source', script], {
      env: { ...process.env, ...this.options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const say = (line: string) => this.options.output(`${label.padEnd(9)} | ${line}`);
    say(`started (pid ${child.pid})`);
    for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream }).on('line', say);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    void exited.then((code) => say(`exited (${code ?? child.signalCode})`));
    return { role, label, child, exited };
  }
}

function terminate(proc: ClusterProcess): Promise<number | null> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
  return proc.exited;
}
