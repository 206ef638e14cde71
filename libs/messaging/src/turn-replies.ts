import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  parseStoredEvent,
  replySubject,
  turnControlSubject,
  TurnControlMessage,
  TurnDeltaMessage,
  TurnReplyMessage,
  type InterruptReason,
  type StoredEvent,
} from '@parley/contracts';
import { Logger } from '@nestjs/common';

/**
 * Ingress side of a turn's answer: one core NATS subscription per ingress instance, with waiting
 * requests matched by turn id. The answer's durable copy is in the log; this is only the fast path.
 */
export class TurnReplies {
  readonly subject: string;
  private readonly waiting = new Map<string, Set<(reply: TurnReplyMessage) => void>>();
  private readonly streaming = new Map<string, (delta: TurnDeltaMessage) => void>();
  private readonly subscription: Subscription;
  private readonly log = new Logger('TurnReplies');

  constructor(nc: NatsConnection, prefix: string, instanceId: string) {
    this.subject = replySubject(prefix, instanceId);
    this.subscription = nc.subscribe(this.subject, {
      callback: (error, msg) => {
        if (error) return;
        const json = safeJson(msg.string());
        if (json && typeof json === 'object' && 'delta' in json) {
          const delta = TurnDeltaMessage.safeParse(json);
          if (delta.success) this.streaming.get(delta.data.turnId)?.(delta.data);
          return;
        }
        const parsed = TurnReplyMessage.safeParse(json);
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
  expect(
    turnId: string,
    timeoutMs: number,
    onDelta?: (delta: TurnDeltaMessage) => void,
  ): { reply: Promise<TurnReplyMessage | null>; cancel: () => void } {
    let timer: NodeJS.Timeout;
    let settle!: (value: TurnReplyMessage | null) => void;
    const reply = new Promise<TurnReplyMessage | null>((resolve) => (settle = resolve));
    const done = (value: TurnReplyMessage | null) => {
      clearTimeout(timer);
      const waiters = this.waiting.get(turnId);
      waiters?.delete(done);
      if (waiters?.size === 0) this.waiting.delete(turnId);
      if (onDelta && this.streaming.get(turnId) === onDelta) this.streaming.delete(turnId);
      settle(value);
    };
    if (onDelta) this.streaming.set(turnId, onDelta);
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

/** Responder side: a piece of the reply as it is generated (not validated: it is ours and hot). */
export function sendTurnDelta(nc: NatsConnection, subject: string, delta: TurnDeltaMessage): void {
  nc.publish(subject, JSON.stringify(delta));
}

/** Ingress side: stops every reply being generated in a session but the new turn's. */
export function cancelSessionTurns(nc: NatsConnection, prefix: string, streamId: string, exceptTurnId: string): void {
  nc.publish(turnControlSubject(prefix), JSON.stringify(TurnControlMessage.parse({ kind: 'cancel-session', streamId, exceptTurnId, reason: 'next-turn' })));
}

/** Ingress side: asks whichever responder generates a turn's reply to stop. */
export function cancelTurn(nc: NatsConnection, prefix: string, turnId: string, reason: InterruptReason): void {
  nc.publish(turnControlSubject(prefix), JSON.stringify(TurnControlMessage.parse({ kind: 'cancel', turnId, reason })));
}

/**
 * Responder side: the generations running in this process, each with an abort signal that a
 * `cancel` for its turn fires. A cancel that arrives before its turn starts here is kept for a
 * minute, so a client that left while the turn was being routed still stops it.
 */
export class RunningTurns {
  private readonly running = new Map<string, { controller: AbortController; reason: InterruptReason | null; streamId: string }>();
  private readonly early = new Map<string, { reason: InterruptReason; at: number }>();
  private readonly subscription: Subscription;

  constructor(nc: NatsConnection, prefix: string) {
    this.subscription = nc.subscribe(turnControlSubject(prefix), {
      callback: (error, msg) => {
        if (error) return;
        const parsed = TurnControlMessage.safeParse(safeJson(msg.string()));
        if (!parsed.success) return;
        const control = parsed.data;
        if (control.kind === 'cancel') this.cancel(control.turnId, control.reason);
        else for (const [turnId, entry] of this.running) if (entry.streamId === control.streamId && turnId !== control.exceptTurnId) this.cancel(turnId, control.reason);
      },
    });
  }

  /** Marks a turn as generating here; `signal` aborts when it is cancelled. */
  start(turnId: string, streamId: string): { signal: AbortSignal; reason: () => InterruptReason | null; finish: () => void } {
    const entry = { controller: new AbortController(), reason: null as InterruptReason | null, streamId };
    this.running.set(turnId, entry);
    const early = this.early.get(turnId);
    if (early) {
      this.early.delete(turnId);
      this.cancel(turnId, early.reason);
    }
    return { signal: entry.controller.signal, reason: () => entry.reason, finish: () => this.running.delete(turnId) };
  }

  private cancel(turnId: string, reason: InterruptReason): void {
    const entry = this.running.get(turnId);
    if (!entry) {
      const now = Date.now();
      for (const [id, e] of this.early) if (now - e.at > 60_000) this.early.delete(id);
      this.early.set(turnId, { reason, at: now });
      return;
    }
    entry.reason ??= reason;
    entry.controller.abort();
  }

  close(): void {
    this.subscription.unsubscribe();
    for (const entry of this.running.values()) entry.controller.abort();
  }
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
