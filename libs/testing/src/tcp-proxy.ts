import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a real server (Postgres, say), to take it away from the services under
 * test and give it back without stopping the server the other tests share: `cut()` drops every
 * connection and closes each new one at once, as a server that went down; `restore()` forwards
 * again. `refused` counts the connections it turned away (a test can wait for a client to try).
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private down = false;
  refused = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    let proxy!: TcpProxy;
    const server = createServer((client) => proxy.accept(client, target));
    const port = await new Promise<number>((resolve, reject) =>
      server.once('error', reject).listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
    );
    proxy = new TcpProxy(server, port);
    return proxy;
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    client.on('error', () => undefined);
    if (this.down) {
      this.refused++;
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    upstream.on('error', () => undefined);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  /** Forwards new connections again. */
  restore(): void {
    this.down = false;
  }

  /** Drops every open connection and closes each new one at once. */
  cut(): void {
    this.down = true;
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
