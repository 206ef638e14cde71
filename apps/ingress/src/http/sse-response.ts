import type { FastifyReply } from 'fastify';

/**
 * A Server-Sent Events answer that opens on its first event, so errors before it keep their
 * HTTP status and JSON body. `left` fires when the client disconnects before the end.
 */
export class SseResponse {
  readonly left = new AbortController();
  private opened = false;

  constructor(private readonly reply: FastifyReply) {
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) this.left.abort();
    });
  }

  get isOpen(): boolean {
    return this.opened;
  }

  open(headers: Record<string, string> = {}): void {
    if (this.opened) return;
    this.opened = true;
    this.reply.hijack();
    this.reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      ...headers,
    });
  }

  /** One event: `data: <json>`, named when `event` is given. */
  send(data: unknown, event?: string): void {
    this.open();
    if (!this.reply.raw.destroyed) this.reply.raw.write(`${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
  }

  /** A comment line (`: text`): keeps an idle stream alive through proxies, and is ignored by clients. */
  comment(text: string): void {
    this.open();
    if (!this.reply.raw.destroyed) this.reply.raw.write(`: ${text}\n\n`);
  }

  end(last?: string): void {
    if (!this.reply.raw.destroyed) this.reply.raw.end(last);
  }

  /** The client left: drop the connection without a proper end. */
  abandon(): void {
    this.reply.raw.destroy();
  }
}
