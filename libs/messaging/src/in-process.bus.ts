import { randomUUID } from 'node:crypto';
import type { MsgHdrs } from '@nats-io/transport-node';
import { eventSubject, type StoredEvent } from '@parley/contracts';
import type { CoreBus, CoreMsg, CoreSubscription, DeliveredMessage, EventBus, PulledMessages, PullConsumer } from './bus';
import { DeadLetter, retrySubject, type StoredDeadLetter } from './dead-letters';
import { EventPublisher } from './event-publisher';
import { traceHeaders } from './message-trace';
import type { ConsumerSpec, ConsumerState } from './topology';

/** Where the in-process bus keeps dead letters: somewhere that outlives the process (a Postgres table). */
export interface DeadLetterStore {
  put(letter: DeadLetter): Promise<void>;
  list(): Promise<StoredDeadLetter[]>;
  remove(seq: number): Promise<void>;
  /** Letters another process (`parley dlq retry`) asked to publish again. */
  retryRequested(): Promise<StoredDeadLetter[]>;
}

export interface InProcessBusOptions {
  prefix: string;
  deadLetters: DeadLetterStore;
  /** The largest message, as NATS's default `max_payload`: what fits here fits a NATS server too. */
  maxPayload?: number;
  /** Events a publish may leave unsettled before it waits for consumers to catch up (memory stays bounded). */
  maxUnsettled?: number;
  /** How often it looks for retries asked by another process (`parley dlq retry`); 0: never. */
  retryPollMs?: number;
}

/** As long as JetStream's duplicate window (`duplicate_window` of the events stream). */
const DUPLICATE_WINDOW_MS = 120_000;

/**
 * The bus inside one process, for the embedded mode: every service runs in the process, so core
 * messages are function calls (delivered asynchronously, in publish order) and the events stream
 * is a queue in memory with the JetStream consumer contract — durable consumers, explicit acks,
 * redelivery after `ack_wait` or a nak, delivery counts, dead letters (in a Postgres table).
 *
 * What memory loses when the process dies the log still holds: a message stays here until every
 * consumer has settled it, and the relay moves its checkpoint past an event only then
 * (`durable`). After a restart the relay publishes again what was not settled, and the
 * consumers see it again — a redelivery, which every handler already takes (see
 * docs/event-log.md).
 */
export class InProcessBus extends EventPublisher implements EventBus {
  readonly kind = 'in-process';
  readonly maxPayload: number;
  readonly core = new InProcessCore();
  private readonly consumers = new Map<string, MemoryConsumer>();
  /** Messages some consumer has not settled yet, by sequence. */
  private readonly unsettled = new Map<number, StreamMessage>();
  /** Recent message ids (duplicate window), and those of messages not settled yet. */
  private readonly recent = new Map<string, { seq: number; at: number }>();
  private readonly roomWaiters: (() => void)[] = [];
  private seq = 0;
  private closed = false;

  private readonly retryTimer?: NodeJS.Timeout;

  constructor(private readonly options: InProcessBusOptions) {
    super();
    this.maxPayload = options.maxPayload ?? 1024 * 1024;
    const every = options.retryPollMs ?? 2_000;
    if (every > 0) this.retryTimer = setInterval(() => void this.retryRequested().catch(() => undefined), every).unref();
  }

  /** Publishes again the dead letters `parley dlq retry` asked for from another process. */
  private async retryRequested(): Promise<void> {
    for (const letter of await this.options.deadLetters.retryRequested()) {
      if (this.closed) return;
      await this.retryDeadLetter(letter);
    }
  }

  // ---- the events stream ----

  async ensureStreams(): Promise<void> {}

  async consumer(spec: ConsumerSpec): Promise<PullConsumer> {
    let consumer = this.consumers.get(spec.durable);
    if (!consumer) this.consumers.set(spec.durable, (consumer = new MemoryConsumer(spec, (message) => this.settledBy(message))));
    consumer.update(spec);
    return consumer;
  }

  async consumerState(durable: string): Promise<ConsumerState | null> {
    return this.consumers.get(durable)?.state() ?? null;
  }

  async publish(events: readonly StoredEvent[]): Promise<void> {
    const results = await this.publishEach(events);
    const failed = results.find((r) => r !== null);
    if (failed) throw failed;
  }

  async publishEach(events: readonly StoredEvent[]): Promise<(Error | null)[]> {
    const results: (Error | null)[] = [];
    for (const event of events) {
      try {
        await this.publishRaw(eventSubject(this.options.prefix, event), JSON.stringify(event), event.eventId, traceHeaders(event));
        results.push(null);
      } catch (error) {
        results.push(error instanceof Error ? error : new Error(String(error)));
      }
    }
    return results;
  }

  /**
   * A stream message: seen by core subscribers of its subject, and kept for every consumer whose
   * filter takes it. Events go through `publish`; this takes any text (a retried dead letter).
   */
  async publishRaw(subject: string, data: string, msgId: string = randomUUID(), headers?: MsgHdrs): Promise<void> {
    if (this.closed) throw new Error('the in-process bus is closed');
    const bytes = Buffer.byteLength(data);
    if (bytes > this.maxPayload)
      throw Object.assign(new Error(`message of ${bytes} bytes exceeds max_payload (${this.maxPayload})`), {
        name: 'InvalidArgumentError',
      });
    const now = Date.now();
    this.forgetOldIds(now);
    if (this.recent.has(msgId)) return; // a repeat within the duplicate window
    while (this.unsettled.size >= (this.options.maxUnsettled ?? 50_000) && !this.closed)
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    const seq = ++this.seq;
    this.recent.set(msgId, { seq, at: now });
    this.core.deliver(subject, data, headers);
    const interested = [...this.consumers.values()].filter((c) => c.takes(subject));
    if (interested.length === 0) return;
    const message: StreamMessage = { seq, subject, data, headers, unsettled: interested.length, waiters: [] };
    this.unsettled.set(seq, message);
    for (const consumer of interested) consumer.offer(message);
  }

  private forgetOldIds(now: number): void {
    for (const [id, entry] of this.recent) {
      if (now - entry.at < DUPLICATE_WINDOW_MS) break; // in publish order: the rest are newer
      if (this.unsettled.has(entry.seq)) break; // kept while its message is: `durable` asks by id
      this.recent.delete(id);
    }
  }

  private settledBy(message: StreamMessage): void {
    if (--message.unsettled > 0) return;
    this.unsettled.delete(message.seq);
    for (const resolve of message.waiters.splice(0)) resolve();
    this.roomWaiters.shift()?.();
  }

  async durable(events: readonly StoredEvent[]): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const event of events) {
      const entry = this.recent.get(event.eventId);
      const message = entry && this.unsettled.get(entry.seq);
      if (message) pending.push(new Promise((resolve) => message.waiters.push(resolve)));
    }
    await Promise.all(pending);
  }

  /** Messages some consumer has not settled yet. */
  get unsettledCount(): number {
    return this.unsettled.size;
  }

  // ---- dead letters ----

  async deadLetter(letter: DeadLetter): Promise<void> {
    await this.options.deadLetters.put(DeadLetter.parse(letter));
  }

  listDeadLetters(): Promise<StoredDeadLetter[]> {
    return this.options.deadLetters.list();
  }

  async retryDeadLetter(letter: StoredDeadLetter): Promise<void> {
    await this.publishRaw(retrySubject(letter), letter.payload, `dlq-retry-${letter.seq}-${Date.now()}`);
    await this.options.deadLetters.remove(letter.seq);
  }

  isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.retryTimer);
    for (const consumer of this.consumers.values()) consumer.close();
    for (const resolve of this.roomWaiters.splice(0)) resolve();
    for (const message of this.unsettled.values()) for (const resolve of message.waiters.splice(0)) resolve();
    this.core.close();
  }
}

/** Core messages inside the process: subscribers filed by the literal tokens before their first wildcard. */
export class InProcessCore implements CoreBus {
  private readonly subscribers = new Map<string, Set<Subscriber>>();

  publish(subject: string, payload = '', options?: { headers?: MsgHdrs }): void {
    this.deliver(subject, payload, options?.headers);
  }

  subscribe(subject: string, options: { callback: (error: Error | null, msg: CoreMsg) => void }): CoreSubscription {
    const key = literalPrefix(subject);
    const subscriber: Subscriber = { pattern: subject.split('.'), callback: options.callback };
    let set = this.subscribers.get(key);
    if (!set) this.subscribers.set(key, (set = new Set()));
    set.add(subscriber);
    return {
      unsubscribe: () => {
        set.delete(subscriber);
        if (set.size === 0 && this.subscribers.get(key) === set) this.subscribers.delete(key);
      },
    };
  }

  request(subject: string, payload = '', options: { timeout: number } = { timeout: 1_000 }): Promise<CoreMsg> {
    return new Promise((resolve, reject) => {
      const inbox = `_INBOX.${randomUUID()}`;
      const timer = setTimeout(() => {
        subscription.unsubscribe();
        reject(new Error(`request on ${subject} timed out after ${options.timeout} ms`));
      }, options.timeout);
      const subscription = this.subscribe(inbox, {
        callback: (_error, msg) => {
          clearTimeout(timer);
          subscription.unsubscribe();
          resolve(msg);
        },
      });
      if (!this.deliver(subject, payload, undefined, inbox)) {
        clearTimeout(timer);
        subscription.unsubscribe();
        reject(new Error(`no responders on ${subject}`));
      }
    });
  }

  async flush(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Hands a message to every matching subscriber on a later microtask; false when none matched. */
  deliver(subject: string, data: string, headers?: MsgHdrs, reply?: string): boolean {
    const tokens = subject.split('.');
    const matched: Subscriber[] = [];
    let key = '';
    for (let i = 0; i <= tokens.length; i++) {
      for (const subscriber of this.subscribers.get(key) ?? []) if (matches(subscriber.pattern, tokens)) matched.push(subscriber);
      if (i < tokens.length) key = i === 0 ? tokens[0] : `${key}.${tokens[i]}`;
    }
    if (matched.length === 0) return false;
    const msg = new CoreMessage(subject, data, headers, reply, this);
    queueMicrotask(() => {
      for (const subscriber of matched) subscriber.callback(null, msg);
    });
    return true;
  }

  close(): void {
    this.subscribers.clear();
  }
}

interface Subscriber {
  pattern: string[];
  callback: (error: Error | null, msg: CoreMsg) => void;
}

interface StreamMessage {
  seq: number;
  subject: string;
  data: string;
  headers?: MsgHdrs;
  /** Consumers that have not settled it. */
  unsettled: number;
  /** Told when every consumer has. */
  waiters: (() => void)[];
}

/** The tokens of a subject pattern before its first wildcard: where its subscribers are filed. */
function literalPrefix(pattern: string): string {
  const tokens = pattern.split('.');
  const wildcard = tokens.findIndex((t) => t === '*' || t === '>');
  return (wildcard < 0 ? tokens : tokens.slice(0, wildcard)).join('.');
}

/** NATS subject matching: `*` is one token, `>` one or more at the end. */
export function subjectMatches(pattern: string, subject: string): boolean {
  return matches(pattern.split('.'), subject.split('.'));
}

function matches(pattern: readonly string[], tokens: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === '>') return tokens.length > i;
    if (i >= tokens.length || (pattern[i] !== '*' && pattern[i] !== tokens[i])) return false;
  }
  return pattern.length === tokens.length;
}

class CoreMessage implements CoreMsg {
  constructor(
    readonly subject: string,
    private readonly data: string,
    readonly headers: MsgHdrs | undefined,
    private readonly reply: string | undefined,
    private readonly core: InProcessCore,
  ) {}

  string(): string {
    return this.data;
  }

  json<T>(): T {
    return JSON.parse(this.data) as T;
  }

  respond(payload = ''): boolean {
    if (!this.reply) return false;
    this.core.publish(this.reply, payload);
    return true;
  }
}

/**
 * A durable consumer in memory: messages its filter takes wait in `ready` until a pull asks; a
 * delivered message is outstanding until acked or terminated, and goes back to `ready` when it is
 * nak'ed (after the delay) or not acked within `ack_wait`.
 */
class MemoryConsumer implements PullConsumer {
  private pattern: string[] = [];
  private ackWaitMs = 30_000;
  private readonly ready: StreamMessage[] = [];
  private readonly outstanding = new Map<number, Outstanding>();
  /** Deliveries so far, of the messages not settled yet. */
  private readonly deliveries = new Map<number, number>();
  private readonly pulls = new Set<Pull>();

  constructor(
    private spec: ConsumerSpec,
    private readonly onSettled: (message: StreamMessage) => void,
  ) {}

  update(spec: ConsumerSpec): void {
    this.spec = spec;
    this.pattern = spec.filterSubject.split('.');
    this.ackWaitMs = spec.ackWaitMs;
  }

  takes(subject: string): boolean {
    return matches(this.pattern, subject.split('.'));
  }

  offer(message: StreamMessage): void {
    this.ready.push(message);
    this.pump();
  }

  async fetch(options: { max_messages: number; expires: number }): Promise<PulledMessages> {
    const pull = new Pull(
      options.max_messages,
      options.expires,
      (p, unused) => {
        this.pulls.delete(p);
        this.ready.unshift(...unused); // handed to a pull that ended before it read them: not delivered
      },
      (message) => this.deliver(message),
    );
    this.pulls.add(pull);
    this.pump();
    return pull;
  }

  state(): ConsumerState {
    let redelivered = 0;
    for (const seq of this.outstanding.keys()) if ((this.deliveries.get(seq) ?? 0) > 1) redelivered++;
    return { pending: this.ready.length, ackPending: this.outstanding.size, redelivered };
  }

  private pump(): void {
    for (const pull of this.pulls) {
      while (this.ready.length && pull.wants()) pull.hand(this.ready.shift()!);
      if (!this.ready.length) return;
    }
  }

  /** A message a pull's reader takes: one more delivery, outstanding until settled. */
  private deliver(message: StreamMessage): DeliveredMessage {
    const count = (this.deliveries.get(message.seq) ?? 0) + 1;
    this.deliveries.set(message.seq, count);
    const entry: Outstanding = { timer: undefined };
    this.outstanding.set(message.seq, entry);
    const isCurrent = () => this.outstanding.get(message.seq) === entry;
    const arm = (ms: number) => {
      clearTimeout(entry.timer);
      entry.timer = setTimeout(() => {
        if (!isCurrent()) return;
        this.outstanding.delete(message.seq);
        this.offer(message);
      }, ms);
    };
    const settle = () => {
      if (!this.deliveries.has(message.seq)) return; // settled already (an ack after a redelivery's)
      clearTimeout(this.outstanding.get(message.seq)?.timer);
      this.outstanding.delete(message.seq);
      this.deliveries.delete(message.seq);
      const waiting = this.ready.indexOf(message);
      if (waiting >= 0) this.ready.splice(waiting, 1);
      this.onSettled(message);
    };
    arm(this.ackWaitMs);
    const consumer = this.spec.durable;
    return {
      subject: message.subject,
      headers: message.headers,
      info: { deliveryCount: count, consumer },
      string: () => message.data,
      json: <T>() => JSON.parse(message.data) as T,
      ack: settle,
      term: settle,
      nak: (millis = 0) => {
        if (isCurrent()) arm(millis);
      },
      working: () => {
        if (isCurrent()) arm(this.ackWaitMs);
      },
    };
  }

  close(): void {
    for (const pull of [...this.pulls]) pull.stop();
    for (const entry of this.outstanding.values()) clearTimeout(entry.timer);
  }
}

interface Outstanding {
  timer: NodeJS.Timeout | undefined;
}

/** One pull: up to `max` messages, handed over as they come, until it has them all, expires or is stopped. */
class Pull implements PulledMessages {
  private readonly buffer: StreamMessage[] = [];
  private handed = 0;
  private ended = false;
  private wake?: () => void;
  private readonly timer: NodeJS.Timeout;
  private resolveClosed!: () => void;
  private readonly done = new Promise<void>((resolve) => (this.resolveClosed = resolve));

  constructor(
    private readonly max: number,
    expires: number,
    private readonly onEnd: (pull: Pull, unused: StreamMessage[]) => void,
    private readonly deliver: (message: StreamMessage) => DeliveredMessage,
  ) {
    this.timer = setTimeout(() => this.stop(), expires);
  }

  wants(): boolean {
    return !this.ended && this.handed < this.max;
  }

  hand(message: StreamMessage): void {
    this.handed++;
    this.buffer.push(message);
    this.wake?.();
  }

  stop(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    this.onEnd(this, this.buffer.splice(0));
    this.wake?.();
    this.resolveClosed();
  }

  closed(): Promise<void> {
    return this.done;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<DeliveredMessage> {
    for (;;) {
      const next = this.buffer.shift();
      if (next) {
        yield this.deliver(next);
        continue;
      }
      if (this.ended || this.handed >= this.max) break;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    this.stop();
  }
}
