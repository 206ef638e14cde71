import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Nest's `ws` adapter on the HTTP server Fastify listens on, with two changes a voice platform
 * needs: a gateway's path is a prefix (Retell appends the call id: `/v1/retell/<call_id>`), and
 * frames are not dispatched by an `event` field (Retell's protocol has none: the gateway reads them
 * itself). Frames over `maxPayload` close the connection (1009), as `ws` does.
 */
export class PrefixWsAdapter extends WsAdapter {
  constructor(app: INestApplicationContext) {
    super(app, { messageParser: () => undefined });
  }

  protected override ensureHttpServerExists(port: number, httpServer?: Server) {
    const registry = this.httpServersRegistry as Map<number, unknown>;
    if (registry.has(port)) return undefined;
    const server = (httpServer ?? this.httpServer) as Server;
    registry.set(port, server);
    server.on('upgrade', (request, socket, head) => {
      const pathname = new URL(request.url ?? '/', 'ws://localhost/').pathname;
      const servers = (this.wsServersRegistry.get(port) ?? []) as {
        path: string;
        handleUpgrade: (request: IncomingMessage, socket: Duplex, head: Buffer, done: (ws: unknown) => void) => void;
        emit: (event: string, ...args: unknown[]) => boolean;
      }[];
      const target = servers.find((s) => pathname === s.path || pathname.startsWith(`${s.path}/`));
      if (!target) {
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      target.handleUpgrade(request, socket, head, (ws: unknown) => target.emit('connection', ws, request));
    });
    return server;
  }
}
