import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The services of a cluster, in the order they are started. */
export const CLUSTER_SERVICES = ['relay', 'session-projector', 'router', 'responder', 'ingress'] as const;
/** A service process: one of the cluster's, or `embedded`, which runs all of them in one process on the in-process bus. */
export type ClusterService = (typeof CLUSTER_SERVICES)[number] | 'embedded';

/** The repository root (found by its package.json), from src or dist alike. */
export function repoRoot(from = __dirname): string {
  for (let dir = from; dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'parley') return dir;
  }
  throw new Error(`No Parley repository above ${from}`);
}

/** The built entrypoint of an app, in this checkout or in `root` (another one, built: a baseline to compare with). */
export const entrypoint = (app: string, root = repoRoot()) => join(root, 'dist', 'apps', app, 'src', 'main.js');

/**
 * Node options every service process starts with, unless `NODE_OPTIONS` sets the heap itself: a
 * 256 MB old space. V8 otherwise sizes its heap to the machine (gigabytes here) and collects late,
 * so a responder streaming 512 replies sat at 280–370 MB resident with about 100 MB alive; with the
 * cap it peaked near 215 MB at the same rate (measured). The same is set in the Dockerfile.
 */
export const SERVICE_NODE_OPTIONS = ['--max-old-space-size=256'];
/** The embedded process holds every service: room for all of them. */
const EMBEDDED_NODE_OPTIONS = ['--max-old-space-size=1024'];
const heapArgs = (service: ClusterService) =>
  /max-old-space-size/.test(process.env.NODE_OPTIONS ?? '') ? [] : service === 'embedded' ? EMBEDDED_NODE_OPTIONS : SERVICE_NODE_OPTIONS;

/**
 * What an ingress's `/readyz` says: ready means every worker answers too (a `degraded` ingress is
 * up, and answers from the knowledge base, but turns for the LLM wait).
 */
export async function readiness(baseUrl: string): Promise<{ ready: boolean; body: string }> {
  try {
    const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(3_000) });
    const body = await res.text();
    return { ready: res.ok && (JSON.parse(body) as { status?: string }).status === 'ready', body };
  } catch (error) {
    return { ready: false, body: String(error) };
  }
}

export interface ClusterOptions {
  /** Environment for every service (DATABASE_URL, NATS_URL, PARLEY_NATS_PREFIX, PORT, OPENAI_BASE_URL, ...). */
  env: Record<string, string>;
  /** Called with every line a service prints, prefixed by its name; default: kept in `logs` only. */
  onLine?: (service: ClusterService, line: string) => void;
  /** Called when a service exits while the cluster is not stopping. */
  onUnexpectedExit?: (service: ClusterService, code: number | null, signal: NodeJS.Signals | null) => void;
  readyTimeoutMs?: number;
  /** Node options for every service (e.g. `--cpu-prof` to profile them under a benchmark's load). */
  nodeArgs?: string[];
  /** Every service in one process on the in-process bus (the embedded mode), instead of one process each on NATS. */
  embedded?: boolean;
  /** The checkout whose built `dist/` runs (default: this one): another commit's, to compare with. */
  root?: string;
}

/** The services as separate processes, started from the built `dist/`. */
export class Cluster {
  readonly logs: string[] = [];
  private readonly processes = new Map<ClusterService, ChildProcess>();
  private readonly replicas: ChildProcess[] = [];
  private stopping = false;

  /** The processes it runs. */
  readonly services: readonly ClusterService[];

  constructor(private readonly options: ClusterOptions) {
    this.services = options.embedded ? ['embedded'] : CLUSTER_SERVICES;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.options.env.PORT ?? '3000'}`;
  }

  /** Starts one service (again, after `kill`). */
  startService(service: ClusterService): ChildProcess {
    const child = this.spawnService(service, {});
    child.on('exit', (code, signal) => {
      if (this.processes.get(service) === child) this.processes.delete(service);
      if (!this.stopping) this.options.onUnexpectedExit?.(service, code, signal);
    });
    this.processes.set(service, child);
    return child;
  }

  /** Starts one more instance of a service, with extra settings (an ingress on another PORT, say). */
  startReplica(service: ClusterService, env: Record<string, string>): ChildProcess {
    const child = this.spawnService(service, env);
    this.replicas.push(child);
    return child;
  }

  private spawnService(service: ClusterService, extraEnv: Record<string, string>): ChildProcess {
    const path = entrypoint(service, this.options.root);
    if (!existsSync(path)) throw new Error(`${path} is missing: run "npm run build" first`);
    const child = spawn(process.execPath, [...heapArgs(service), ...(this.options.nodeArgs ?? []), path], {
      env: { ...process.env, ...(this.options.env.FORCE_COLOR ? {} : { NO_COLOR: '1' }), ...this.options.env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        this.logs.push(`[${service}] ${line}`);
        if (this.logs.length > 20_000) this.logs.splice(0, 10_000); // a long benchmark: the recent lines are the ones read
        this.options.onLine?.(service, line);
      }
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    return child;
  }

  async start(): Promise<this> {
    for (const service of this.services) this.startService(service);
    await this.waitUntilReady();
    return this;
  }

  /** Polls `/readyz` until every worker answers (`status: "ready"`); fails early if a service exits, with its logs. */
  async waitUntilReady(timeoutMs = this.options.readyTimeoutMs ?? 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      const gone = this.services.filter((s) => !this.processes.has(s));
      if (gone.length) throw new Error(`Service(s) exited during startup: ${gone.join(', ')}\n${this.logs.slice(-40).join('\n')}`);
      const answer = await readiness(this.baseUrl);
      if (answer.ready) return;
      last = answer.body;
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error(`Cluster not ready after ${timeoutMs} ms (${last})\n${this.logs.slice(-40).join('\n')}`);
  }

  /** Process ids of the running services (for measuring their memory). */
  pids(): Partial<Record<ClusterService, number>> {
    return Object.fromEntries([...this.processes].flatMap(([service, child]) => (child.pid ? [[service, child.pid]] : [])));
  }

  /** Kills one service (SIGKILL by default: a crash, not a shutdown). */
  async kill(service: ClusterService, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.processes.get(service);
    if (!child) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  /** Stops every service with SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.processes.values(), ...this.replicas].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
  }
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const cluster = new Cluster(options);
  try {
    return await cluster.start();
  } catch (error) {
    await cluster.stop(2_000);
    throw error;
  }
}
