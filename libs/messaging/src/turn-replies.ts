import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { parseStoredEvent, replySubject, TurnReplyMessage, type StoredEvent } from '@parley/contracts';
import { Logger } from '@nestjs/common';

/**
 * Ingress side of a turn's answer: one core NATS subscription per ingress instance, with waiting
 * requests matched by turn id. The answer's durable copy is in the log; this is only the fast path.
 */
export class TurnReplies {
  readonly subject: string;
  private readonly waiting = new Map<string, Set<(reply: TurnReplyMessage) => void>>();
  private readonly subscription: Subscription;
  private readonly log = new Logger('TurnReplies');

  constructor(nc: NatsConnection, prefix: string, instanceId: string) {
    this.subject = replySubject(prefix, instanceId);
    this.subscription = nc.subscribe(this.subject, {
      callback: (error, msg) => {
        if (error) return;
        const parsed = TurnReplyMessage.safeParse(safeJson(msg.string()));
        if (!parsed.success) {
          this.log.warn(`Ignoring malformed turn reply: ${parsed.error.message}`);
          return;
        }
        for (const done of [...(this.waiting.get(parsed.data.turnId) ?? [])]) done(parsed.data);
      },
    });
  }

  /**
   * Registers interest in a turn before its first event is published (so a fast answer is never
   * missed) and resolves with the answer, or with null after `timeoutMs`.
   */
  expect(turnId: string, timeoutMs: number): { reply: Promise<TurnReplyMessage | null>; cancel: () => void } {
    let timer: NodeJS.Timeout;
    let settle!: (value: TurnReplyMessage | null) => void;
    const reply = new Promise<TurnReplyMessage | null>((resolve) => (settle = resolve));
    const done = (value: TurnReplyMessage | null) => {
      clearTimeout(timer);
      const waiters = this.waiting.get(turnId);
      waiters?.delete(done);
      if (waiters?.size === 0) this.waiting.delete(turnId);
      settle(value);
    };
    timer = setTimeout(() => done(null), timeoutMs);
    const waiters = this.waiting.get(turnId) ?? new Set();
    waiters.add(done);
    this.waiting.set(turnId, waiters);
    return { reply, cancel: () => done(null) };
  }

  close(): void {
    this.subscription.unsubscribe();
    for (const waiters of [...this.waiting.values()]) for (const done of [...waiters]) done(null as never);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Responder side: sends a turn's answer to the ingress instance waiting on it. */
export function sendTurnReply(nc: NatsConnection, subject: string, reply: TurnReplyMessage): void {
  nc.publish(subject, JSON.stringify(TurnReplyMessage.parse(reply)));
}

/**
 * Resolves with the first event (stored form: personal fields sealed) of a stream that `matches`, seen on the stream's subject as it is
 * published (by the writer or the relay), or null after `timeoutMs`. For the rare waits that are
 * not on the fast reply path, such as a retried request on another ingress instance.
 */
export function watchStream(
  nc: NatsConnection,
  subject: string,
  matches: (event: StoredEvent) => boolean,
  timeoutMs: number,
): { event: Promise<StoredEvent | null>; stop: () => void } {
  let settle!: (event: StoredEvent | null) => void;
  const event = new Promise<StoredEvent | null>((resolve) => (settle = resolve));
  const subscription = nc.subscribe(subject, {
    callback: (error, msg) => {
      if (error) return;
      try {
        const parsed = parseStoredEvent(msg.json());
        if (matches(parsed)) stop(parsed);
      } catch {
        // not an event we can read: not the one we wait for
      }
    },
  });
  const timer = setTimeout(() => stop(null), timeoutMs);
  const stop = (value: StoredEvent | null = null) => {
    clearTimeout(timer);
    subscription.unsubscribe();
    settle(value);
  };
  return { event, stop: () => stop(null) };
}
