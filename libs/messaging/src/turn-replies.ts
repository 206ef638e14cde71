import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { replySubject, TurnReplyMessage } from '@parley/contracts';
import { Logger } from '@nestjs/common';

/**
 * Ingress side of a turn's answer: one core NATS subscription per ingress instance, with waiting
 * requests matched by turn id. The answer's durable copy is in the log; this is only the fast path.
 */
export class TurnReplies {
  readonly subject: string;
  private readonly waiting = new Map<string, (reply: TurnReplyMessage) => void>();
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
        this.waiting.get(parsed.data.turnId)?.(parsed.data);
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
      this.waiting.delete(turnId);
      settle(value);
    };
    timer = setTimeout(() => done(null), timeoutMs);
    this.waiting.set(turnId, done);
    return { reply, cancel: () => done(null) };
  }

  close(): void {
    this.subscription.unsubscribe();
    for (const done of [...this.waiting.values()]) done(null as never);
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
