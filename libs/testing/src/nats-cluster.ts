import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './processes';
import { waitFor } from './wait-for';

/** Where the Debian package puts the server; `NATS_SERVER_BIN` says otherwise. */
export const NATS_SERVER_BIN =
  process.env.NATS_SERVER_BIN ??
  ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find(existsSync) ??
  'nats-server';

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

interface Node {
  name: string;
  port: number;
  clusterPort: number;
  monitorPort: number;
  child: ChildProcess | null;
}

/**
 * A JetStream cluster of `size` nats-servers of the test's own (loopback ports, stores in a temp
 * dir), formed through routes, so a stream can be kept at R3 and a node killed under it. Its
 * `url` names every node, comma-separated, as `NATS_URL` may.
 */
export class NatsCluster {
  private constructor(
    private readonly nodes: Node[],
    private readonly dir: string,
  ) {}

  static async start(size = 3): Promise<NatsCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'parley-nats-cluster-'));
    const nodes: Node[] = [];
    for (let i = 0; i < size; i++)
      nodes.push({ name: `n${i + 1}`, port: await freePort(), clusterPort: await freePort(), monitorPort: await freePort(), child: null });
    const cluster = new NatsCluster(nodes, dir);
    for (const node of nodes) cluster.run(node);
    await waitFor(async () => (await Promise.all(nodes.map((n) => listening(n.port)))).every(Boolean), {
      what: 'every NATS node to listen',
      timeoutMs: 15_000,
    });
    // JetStream can place R3 streams once a meta leader has every other node as a current peer
    await waitFor(async () => (await Promise.all(nodes.map((n) => cluster.leadsAll(n)))).some(Boolean), {
      what: 'a JetStream meta leader with every peer current',
      timeoutMs: 30_000,
    });
    return cluster;
  }

  get url(): string {
    return this.nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(',');
  }

  urlOf(name: string): string {
    return `nats://127.0.0.1:${this.node(name).port}`;
  }

  private node(name: string): Node {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no NATS node ${name}`);
    return node;
  }

  private run(node: Node): void {
    const routes = this.nodes.map((n) => `nats://127.0.0.1:${n.clusterPort}`).join(',');
    node.child = spawn(
      NATS_SERVER_BIN,
      [
        '-a',
        '127.0.0.1',
        '-p',
        String(node.port),
        '-m',
        String(node.monitorPort),
        '-n',
        node.name,
        '--cluster_name',
        'parley-test',
        '--cluster',
        `nats://127.0.0.1:${node.clusterPort}`,
        '--routes',
        routes,
        '-js',
        '-sd',
        join(this.dir, node.name),
      ],
      { stdio: 'ignore' },
    );
  }

  /** This node is the meta leader, and sees every other node as a current peer. */
  private async leadsAll(node: Node): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${node.monitorPort}/jsz`, { signal: AbortSignal.timeout(1_000) });
      const jsz = (await res.json()) as { meta_cluster?: { leader?: string; replicas?: { current?: boolean }[] } };
      const meta = jsz.meta_cluster;
      return meta?.leader === node.name && (meta.replicas ?? []).filter((r) => r.current).length === this.nodes.length - 1;
    } catch {
      return false;
    }
  }

  /** Kills one node (SIGKILL: a crash). */
  async kill(name: string): Promise<void> {
    const node = this.node(name);
    const child = node.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    node.child = null;
  }

  /** Starts a killed node again, on its ports and store. */
  async revive(name: string): Promise<void> {
    const node = this.node(name);
    this.run(node);
    await waitFor(() => listening(node.port), { what: `NATS node ${name} to listen`, timeoutMs: 15_000 });
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) await this.kill(node.name);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
