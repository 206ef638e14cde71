import type { FastifyReply } from 'fastify';
import type { TurnDeltaMessage } from '@parley/contracts';
import type { ApiExceptionFilter } from './api-error';
import { SseResponse } from './sse-response';

/** Whether the client asked for Server-Sent Events (`Accept: text/event-stream`). */
export const wantsEventStream = (accept: string | undefined) => Boolean(accept && /\btext\/event-stream\b/i.test(accept));

/** What a streamed turn needs from the HTTP side: where pieces go, and a signal for a client that left. */
export interface ClientStream {
  onDelta(delta: TurnDeltaMessage): void;
  signal: AbortSignal;
}

/**
 * Answers with the result as JSON, or — for a client that asked for `text/event-stream` — as
 * Server-Sent Events: `delta` events with each piece of the reply as the model generates it (the
 * first also names the route), then `done` with the whole result, or `error` with the error body.
 * The stream opens with the first piece, so errors before it (not found, invalid, LLM down) keep
 * their HTTP status. A client that disconnects fires the signal.
 */
export async function respond<T>(
  reply: FastifyReply,
  accept: string | undefined,
  filter: ApiExceptionFilter,
  run: (stream: ClientStream | undefined) => Promise<T>,
): Promise<void> {
  if (!wantsEventStream(accept)) {
    const result = await run(undefined);
    void reply.status(200).send(result);
    return;
  }
  const sse = new SseResponse(reply);
  try {
    const result = await run({
      onDelta: ({ turnId, seq, delta, route }) => sse.send({ turnId, seq, text: delta, ...(route ? { route } : {}) }, 'delta'),
      signal: sse.left.signal,
    });
    if (sse.left.signal.aborted) return sse.abandon();
    sse.send(result, 'done');
    sse.end();
  } catch (error) {
    if (!sse.isOpen) throw error; // nothing sent yet: the usual JSON error with its status
    sse.send(filter.toResponse(error).body, 'error');
    sse.end();
  }
}
