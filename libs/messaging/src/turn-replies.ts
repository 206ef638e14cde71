import type { CoreBus, CoreSubscription } from './bus';
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
  private readonly subscription: CoreSubscription;
  private readonly log = new Logger('TurnReplies');

  constructor(nc: CoreBus, prefix: string, instanceId: string) {
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
export function sendTurnReply(nc: CoreBus, subject: string, reply: TurnReplyMessage): void {
  nc.publish(subject, JSON.stringify(TurnReplyMessage.parse(reply)));
}

/**
 * Responder side: the pieces of the replies being generated, sent to the ingress instances
 * waiting on them, batched. A turn's first piece leaves at the end of the current round of I/O
 * (at once, when the process is quiet); later pieces are gathered for up to `everyMs` and leave
 * together — a turn's as one message, all of them in one write to NATS. A write costs tens of
 * microseconds on these machines: one per token was a sixth of the responder's time with 128
 * conversations streaming, and as much again in ingress, which writes each message to its client.
 * 20 ms is a fraction of a spoken syllable and of the gap between a model's tokens.
 */
export class TurnDeltas {
  private readonly pending = new Map<string, { subject: string; message: TurnDeltaMessage }>();
  private readonly sent = new Map<string, number>();
  private immediate = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly nc: CoreBus,
    private readonly everyMs = 20,
  ) {}

  /** Queues a piece of `turnId`'s reply for `subject`; the first piece of a turn carries its route. */
  push(subject: string, turnId: string, delta: string, route?: TurnDeltaMessage['route']): void {
    const queued = this.pending.get(turnId);
    if (queued) queued.message.delta += delta;
    else this.pending.set(turnId, { subject, message: { turnId, seq: 0, delta, ...(route ? { route } : {}) } });
    if (!this.sent.has(turnId)) {
      // the turn's first piece: time to first token is what a caller waits on
      if (!this.immediate) {
        this.immediate = true;
        setImmediate(() => {
          this.immediate = false;
          for (const id of [...this.pending.keys()]) if (!this.sent.has(id)) this.send(id);
        });
      }
    } else this.timer ??= setTimeout(() => this.flush(), this.everyMs);
  }

  /** Sends what is queued of one turn now: before its final answer, so its pieces come first. */
  finish(turnId: string): void {
    this.send(turnId);
    this.sent.delete(turnId);
  }

  private flush(): void {
    this.timer = null;
    for (const turnId of [...this.pending.keys()]) this.send(turnId);
  }

  private send(turnId: string): void {
    const queued = this.pending.get(turnId);
    if (!queued) return;
    this.pending.delete(turnId);
    const seq = this.sent.get(turnId) ?? 0;
    this.sent.set(turnId, seq + 1);
    // not validated: ours, and hot
    this.nc.publish(queued.subject, JSON.stringify({ ...queued.message, seq }));
  }
}

/** Ingress side: stops every reply being generated in a session but the new turn's. */
export function cancelSessionTurns(nc: CoreBus, prefix: string, streamId: string, exceptTurnId: string): void {
  nc.publish(
    turnControlSubject(prefix),
    JSON.stringify(TurnControlMessage.parse({ kind: 'cancel-session', streamId, exceptTurnId, reason: 'next-turn' })),
  );
}

/** Ingress side: asks whichever responder generates a turn's reply to stop. */
export function cancelTurn(nc: CoreBus, prefix: string, turnId: string, reason: InterruptReason): void {
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
  private readonly subscription: CoreSubscription;

  constructor(nc: CoreBus, prefix: string) {
    this.subscription = nc.subscribe(turnControlSubject(prefix), {
      callback: (error, msg) => {
        if (error) return;
        const parsed = TurnControlMessage.safeParse(safeJson(msg.string()));
        if (!parsed.success) return;
        const control = parsed.data;
        if (control.kind === 'cancel') this.cancel(control.turnId, control.reason);
        else
          for (const [turnId, entry] of this.running)
            if (entry.streamId === control.streamId && turnId !== control.exceptTurnId) this.cancel(turnId, control.reason);
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
  nc: CoreBus,
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
