import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, NATS_SERVER_BIN } from '@parley/testing';

const BINARY = NATS_SERVER_BIN;

/**
 * A NATS server with JetStream of the run's own — its own port and store — so it can be killed and
 * restarted without touching anything else on the machine. It keeps its store across restarts, as
 * a real server does.
 */
export class OwnNatsServer {
  private child: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    private readonly storeDir: string,
  ) {}

  static async start(): Promise<OwnNatsServer> {
    const server = new OwnNatsServer(await freePort(), mkdtempSync(join(tmpdir(), 'parley-chaos-nats-')));
    await server.run();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  private async run(): Promise<void> {
    const child = spawn(BINARY, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], { stdio: 'ignore' });
    this.child = child;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`nats-server (${BINARY}) exited with ${code}`))),
    );
    // ready once it accepts connections
    for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
      const up = await Promise.race([canConnect(this.port), exited]);
      if (up) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`nats-server did not listen on ${this.port} within 15 s`);
  }

  /** Kills the server (SIGKILL: a crash), waits `downMs`, and starts it again on the same port and store. */
  async restart(downMs: number): Promise<void> {
    await this.kill();
    await new Promise((r) => setTimeout(r, downMs));
    await this.run();
  }

  private async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
