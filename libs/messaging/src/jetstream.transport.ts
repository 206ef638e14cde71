import { Logger } from '@nestjs/common';
import { BaseRpcContext, Server, type CustomTransportStrategy, type MessageHandler } from '@nestjs/microservices';
import {
  healthSubject,
  logIdsOf,
  parseStoredEvent,
  UnknownSchemaVersionError,
  type LogContext,
  type RecordedEvent,
  type StoredEvent,
} from '@parley/contracts';
import { ZodError } from 'zod';
import { isObservable, lastValueFrom } from 'rxjs';
import type { CoreSubscription, DeliveredMessage, EventBus, PulledMessages, PullConsumer } from './bus';
import { describeError } from './describe-error';
import { KeyedQueue } from './keyed-queue';
import { inConsumerSpan } from './message-trace';
import type { ConsumerSpec } from './topology';

/** Handler pattern that receives every event type without a handler of its own. */
export const ANY_EVENT = '*';

/** Messages a replica works on at once unless told otherwise (`PARLEY_MAX_CONCURRENT_TURNS`). */
export const DEFAULT_CONCURRENCY = 256;

export interface JetStreamTransportOptions {
  /** The bus: JetStream, or in-process for the embedded mode. */
  bus: EventBus;
  prefix: string;
  /** Service name, answered on the health subject. */
  service: string;
  instanceId: string;
  consumers: ConsumerSpec[];
  /**
   * Messages this replica works on at once, per consumer: being handled, or queued behind an
   * earlier message of their session. It pulls no more than that from the server, so work beyond
   * it waits in JetStream, not in memory. Messages waiting for an earlier one (`NotYet`) give their
   * place back meanwhile, up to four times this many; past that they go back to JetStream.
   */
  concurrency?: number;
  /**
   * Messages with the same key are handled one at a time, in the order they arrived; different
   * keys run concurrently. Default: the event's stream (its session).
   */
  orderKey?: (event: StoredEvent) => string;
  /** In-place retries of a failing handler before the message is nak'ed (keeps per-stream order through blips). */
  localRetries?: number;
  /** Deliveries of a failing message before it goes to the dead-letter stream. */
  maxDeliveries?: number;
  /** Copies JetStream keeps of the streams it creates (`PARLEY_STREAM_REPLICAS`; default 1). */
  streamReplicas?: number;
  /** Opens a message's sealed personal fields (with the stream's key) before handlers see it. */
  open: (event: StoredEvent) => Promise<RecordedEvent>;
  /**
   * Called before a message that was read is dead-lettered: the service records what giving up
   * means (a turn that failed, so the session's later turns are not held up). If it throws, the
   * message is redelivered later instead.
   */
  giveUp?: (event: StoredEvent) => Promise<void>;
  /** What the service says of itself when asked for its health, besides that it answers (see `HealthReply`). */
  health?: () => { problem?: string; warning?: string };
  /** Told what becomes of each message (for metrics). */
  observer?: MessageObserver;
}

/** What became of a message: handled, retried later, or dead-lettered. */
export type MessageResult = 'ok' | 'retried' | 'dead-lettered';
/** Why a message was dead-lettered, as a bounded set (the reason text goes in the letter). */
export type DeadLetterKind = 'unreadable' | 'kept-failing' | 'waited-too-long';

export interface MessageObserver {
  /** Its handler starts for the first time, `waitedSeconds` after the event was committed. */
  started(type: string, waitedSeconds: number): void;
  settled(type: string, result: MessageResult): void;
  deadLettered(kind: DeadLetterKind): void;
}

/** What a handler gets besides the event: the raw message, for its delivery count. */
export class JetStreamContext extends BaseRpcContext<[DeliveredMessage]> {
  get message(): DeliveredMessage {
    return this.args[0];
  }
  get deliveryCount(): number {
    return this.args[0].info.deliveryCount;
  }
}

/**
 * Thrown by a handler whose message cannot be handled yet — an earlier turn of its session has no
 * outcome in the log yet, say. The transport keeps the message (unacknowledged, its lease renewed)
 * out of its session's queue, so the session's other messages go on, and hands it to the handler
 * again when `until` settles. Not a failure: it counts no delivery.
 */
export class NotYet extends Error {
  override readonly name = 'NotYet';
  constructor(
    readonly until: Promise<unknown>,
    reason: string,
  ) {
    super(reason);
  }
}

/** Delay before retry number `attempt` (1-based): 0.2 s doubling, capped at 30 s. */
export const retryDelayMs = (attempt: number) => Math.min(200 * 2 ** Math.max(0, attempt - 1), 30_000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A message deferred (`NotYet`) for longer than this is treated as failing: nak'ed, counted, in the end dead-lettered. */
const MAX_DEFERRED_MS = 5 * 60_000;

/**
 * A NestJS transport over JetStream durable pull consumers (Nest's own NATS transport is core
 * NATS only). Handlers are ordinary `@EventPattern('<EventType>')` methods receiving the parsed
 * event.
 *
 * Every replica of a service pulls from the service's one durable consumer as much as it has room
 * for (`concurrency`), and handles the messages of one session (`orderKey`) one at a time, in
 * arrival order, while different sessions run concurrently: a slow LLM call holds up its own
 * session only. Across replicas and redeliveries arrival order is not the session's order; the
 * handlers that care check the log (the truth) and throw `NotYet` until what must come first has.
 *
 * A message is acked after its handler resolves (the work is durable by then). A handler that
 * throws is retried in place a few times with backoff, so a blip does not reorder the session;
 * after that the message is nak'ed with a growing delay and the server redelivers it, and on its
 * `maxDeliveries`-th delivery it goes to the dead-letter stream. Register `RethrowRpcErrors` so
 * handler errors arrive intact.
 */
export class JetStreamTransport extends Server implements CustomTransportStrategy {
  private readonly log: Logger;
  private readonly pullers: Puller[] = [];
  private readonly queue = new KeyedQueue();
  private readonly settling = new Set<Promise<void>>();
  private health?: CoreSubscription;
  private stop!: () => void;
  private isClosing = false;
  /** Settles when the transport closes: messages waiting (`NotYet`) are handed back to the server. */
  private readonly closing = new Promise<void>((resolve) => (this.stop = resolve));

  constructor(private readonly options: JetStreamTransportOptions) {
    super();
    this.log = new Logger(`JetStream:${options.service}`);
  }

  async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      const { bus, prefix, service, instanceId } = this.options;
      await bus.ensureStreams(this.options.streamReplicas);
      for (const spec of this.options.consumers) {
        const consumer = await bus.consumer(spec);
        const puller: Puller = new Puller(consumer, this.options.concurrency ?? DEFAULT_CONCURRENCY, this.log, (msg) => {
          const settled = this.receive(msg, spec.ackWaitMs, puller).finally(() => this.settling.delete(settled));
          this.settling.add(settled);
        });
        this.pullers.push(puller);
        puller.start();
      }
      this.health = bus.core.subscribe(healthSubject(prefix, service), {
        callback: (error, msg) => {
          if (!error) msg.respond(JSON.stringify({ service, instanceId, ...this.options.health?.() }));
        },
      });
      callback();
    } catch (error) {
      callback(error);
    }
  }

  /**
   * One message, from its arrival until it is acked, nak'ed or dead-lettered. It is worked on once
   * it has one of the replica's places (`room`); while it waits for an earlier message (`NotYet`)
   * it gives its place back — the message it waits for may still be in JetStream, and a replica
   * whose every place held a waiting message would wait for ever — and takes one again, before any
   * newly arrived message, to go on.
   */
  private async receive(msg: DeliveredMessage, ackWaitMs: number, room: Room): Promise<void> {
    await room.take();
    let holding = true;
    // tell the server the message is still being worked on (an LLM call, or a wait, can outlast ack_wait)
    const heartbeat = setInterval(() => msg.working(), ackWaitMs / 3);
    try {
      if (this.isClosing) return void msg.nak(); // arrived as the replica closes: another one takes it
      let event: StoredEvent;
      try {
        event = parseStoredEvent(msg.json());
      } catch (error) {
        // a message that does not parse never will: park it with the reason and move on
        return await this.deadLetter(msg, 'unreadable', `unreadable message: ${describeError(error)}`);
      }
      const key = this.options.orderKey?.(event) ?? event.streamId;
      const since = Date.now();
      const opened: { event?: RecordedEvent } = {};
      const { observer } = this.options;
      let started = false;
      await inConsumerSpan(this.options.service, msg, event, async (span) => {
        for (;;) {
          const deferred: { notYet?: NotYet } = {};
          await this.queue.run(key, async () => {
            if (!started) {
              started = true;
              const waited = Math.max(0, Date.now() - Date.parse(event.recordedAt)) / 1000;
              observer?.started(event.type, waited);
              span.setAttribute('parley.queue_wait_ms', Math.round(waited * 1000));
            }
            deferred.notYet = (await this.handle(event, msg, opened)) ?? undefined;
          });
          if (!deferred.notYet) return;
          const { message, until } = deferred.notYet;
          span.addEvent('waiting for an earlier message');
          if (Date.now() - since > MAX_DEFERRED_MS)
            return await this.failed(
              event,
              msg,
              `still waiting after ${MAX_DEFERRED_MS / 60_000} minutes: ${message}`,
              1,
              'waited-too-long',
            );
          // too many waiting here already: back to JetStream for a while (memory stays bounded)
          if (!room.startWaiting()) return void msg.nak(1_000);
          room.give();
          holding = false;
          // out of the session's queue while it waits, so the session's other messages go on
          const stopped = await Promise.race([
            until.then(
              () => false,
              () => false,
            ),
            this.closing.then(() => true),
          ]);
          room.stopWaiting();
          if (stopped) return void msg.nak(); // shutting down: another replica takes it now
          await room.resume();
          holding = true;
          if (this.isClosing) return void msg.nak();
        }
      });
    } finally {
      clearInterval(heartbeat);
      if (holding) room.give();
    }
  }

  /**
   * Runs the handler (with in-place retries) and settles the message; returns the `NotYet` the
   * handler threw instead, leaving the message to be handled again. The opened event is kept in
   * `opened` for that next time.
   */
  private async handle(event: StoredEvent, msg: DeliveredMessage, opened: { event?: RecordedEvent }): Promise<NotYet | void> {
    const handler = this.getHandlerByPattern(event.type) ?? this.getHandlerByPattern(ANY_EVENT);
    if (!handler) return void msg.ack();
    const { observer } = this.options;
    const retries = this.options.localRetries ?? 2;
    for (let attempt = 0; ; attempt++) {
      try {
        try {
          opened.event ??= await this.options.open(event);
        } catch (error) {
          // data that does not validate never will (a key lookup that failed might: that is retried)
          if (error instanceof ZodError || error instanceof UnknownSchemaVersionError) {
            await this.options
              .giveUp?.(event)
              .catch((cause: unknown) =>
                this.log.error(`giving up on ${where(event, msg)} failed: ${describeError(cause)}`, logIdsOf(event)),
              );
            return this.deadLetter(msg, 'unreadable', `unreadable ${event.type}: ${describeError(error)}`, logIdsOf(event));
          }
          throw error;
        }
        await run(handler, opened.event, msg);
        msg.ack();
        observer?.settled(event.type, 'ok');
        return;
      } catch (error) {
        if (error instanceof NotYet) return error;
        const reason = describeError(error);
        if (attempt < retries) {
          this.log.warn(`${where(event, msg)} failed, retrying in place: ${reason}`, logIdsOf(event));
          msg.working();
          await sleep(retryDelayMs(attempt + 1));
          continue;
        }
        return this.failed(event, msg, reason, attempt + 1);
      }
    }
  }

  /** A message that keeps failing: redelivered later, or dead-lettered on its last delivery. */
  private async failed(
    event: StoredEvent,
    msg: DeliveredMessage,
    reason: string,
    attempts = 1,
    kind: DeadLetterKind = 'kept-failing',
  ): Promise<void> {
    if (msg.info.deliveryCount >= (this.options.maxDeliveries ?? 5)) {
      try {
        await this.options.giveUp?.(event);
      } catch (error) {
        this.log.error(`giving up on ${where(event, msg)} failed, redelivery later: ${describeError(error)}`, logIdsOf(event));
        return void msg.nak(retryDelayMs(msg.info.deliveryCount));
      }
      await this.deadLetter(msg, kind, `${where(event, msg)} kept failing: ${reason}`, logIdsOf(event));
      return void this.options.observer?.settled(event.type, 'dead-lettered');
    }
    const delay = retryDelayMs(msg.info.deliveryCount + attempts);
    this.log.warn(`${where(event, msg)} failed ${attempts} times, redelivery in ${delay} ms: ${reason}`, logIdsOf(event));
    msg.nak(delay);
    this.options.observer?.settled(event.type, 'retried');
  }

  /** Stores the message in the dead-letter stream, then stops its redelivery; nak'ed if storing fails. */
  private async deadLetter(msg: DeliveredMessage, kind: DeadLetterKind, reason: string, ids: LogContext = {}): Promise<void> {
    const { bus, service } = this.options;
    this.log.error(`Dead-lettering message on ${msg.subject}: ${reason}`, ids);
    try {
      await bus.deadLetter({
        service,
        consumer: msg.info.consumer,
        subject: msg.subject,
        reason,
        deliveries: msg.info.deliveryCount,
        failedAt: new Date().toISOString(),
        payload: msg.string(),
      });
      msg.term(); // no reason string: nats-server 2.9 does not understand `+TERM <reason>`
      this.options.observer?.deadLettered(kind);
    } catch (error) {
      this.log.error(`Could not store the dead letter, will retry: ${describeError(error)}`, ids);
      msg.nak(retryDelayMs(msg.info.deliveryCount));
    }
  }

  async close(): Promise<void> {
    this.isClosing = true;
    this.stop();
    this.health?.unsubscribe();
    await Promise.allSettled(this.pullers.map((p) => p.stop()));
    await Promise.allSettled([...this.settling]);
  }

  on(): never {
    throw new Error('JetStreamTransport does not emit events');
  }

  unwrap<T>(): T {
    return this.options.bus as T;
  }
}

const where = (event: StoredEvent, msg: DeliveredMessage) =>
  `${event.type} ${event.streamId}@${event.version} (delivery ${msg.info.deliveryCount})`;

async function run(handler: MessageHandler, event: RecordedEvent, msg: DeliveredMessage): Promise<void> {
  const result = await handler(event, new JetStreamContext([msg]));
  if (isObservable(result)) await lastValueFrom(result, { defaultValue: undefined });
}

/** The places a replica has for messages: at most its limit are worked on at once. */
interface Room {
  /** Resolves once the message has a place. */
  take(): Promise<void>;
  /** Resolves once a message that waited has a place again: the first free one, before newly arrived messages. */
  resume(): Promise<void>;
  /** Gives a place back. */
  give(): void;
  /** Counts a message that waits; false when too many wait already (up to four times the limit). */
  startWaiting(): boolean;
  stopWaiting(): void;
}

/**
 * Pulls from one consumer no more than the replica has room for, and hands out its places: at
 * most `limit` messages are worked on at once. It asks the server for
 * `limit − held − asked − queued` messages whenever that is worth a request (an eighth of the
 * limit, or anything when nothing is asked for), so under load the server hands out work as
 * replicas free up, and a message never sits in a replica's buffer while its ack timer runs. A
 * place that comes free goes to a message that waited and may go on, then to one that arrived.
 */
class Puller implements Room {
  private held = 0;
  private asked = 0;
  private waiting = 0;
  /** Messages that waited and may go on, and messages that arrived, each for the next free place. */
  private readonly resuming: (() => void)[] = [];
  private readonly arrived: (() => void)[] = [];
  private stopped = false;
  private failures = 0;
  private readonly fetches = new Set<PulledMessages>();
  private readonly running = new Set<Promise<void>>();
  private readonly batchMin: number;

  constructor(
    private readonly consumer: PullConsumer,
    private readonly limit: number,
    private readonly log: Logger,
    private readonly onMessage: (msg: DeliveredMessage) => void,
  ) {
    this.batchMin = Math.max(1, Math.floor(limit / 8));
  }

  start(): void {
    this.topUp();
  }

  take(): Promise<void> {
    return new Promise((resolve) => {
      this.arrived.push(resolve);
      this.grant();
    });
  }

  resume(): Promise<void> {
    return new Promise((resolve) => {
      this.resuming.push(resolve);
      this.grant();
    });
  }

  give(): void {
    this.held--;
    this.grant();
  }

  startWaiting(): boolean {
    if (this.waiting >= 4 * this.limit) return false;
    this.waiting++;
    return true;
  }

  stopWaiting(): void {
    this.waiting--;
  }

  /** Free places go to messages that waited, then to those that arrived; what is left is pulled. */
  private grant(): void {
    while (this.held < this.limit) {
      const next = this.resuming.shift() ?? this.arrived.shift();
      if (!next) break;
      this.held++;
      next();
    }
    this.topUp();
  }

  private topUp(): void {
    if (this.stopped) return;
    const room = this.limit - this.held - this.asked - this.resuming.length - this.arrived.length;
    if (room <= 0 || (room < this.batchMin && this.asked > 0)) return;
    this.asked += room;
    const fetching = this.fetch(room).finally(() => this.running.delete(fetching));
    this.running.add(fetching);
  }

  private async fetch(batch: number): Promise<void> {
    let received = 0;
    let failed = false;
    try {
      // a pull request waits at the server for up to `expires`; heartbeats tell a lost server from a quiet one
      const messages = await this.consumer.fetch({ max_messages: batch, expires: 30_000, idle_heartbeat: 5_000 });
      this.fetches.add(messages);
      try {
        for await (const msg of messages) {
          received++;
          this.asked--;
          this.onMessage(msg); // it takes a place (`take`) before it is worked on
        }
      } finally {
        this.fetches.delete(messages);
      }
      const closed = await messages.closed();
      if (closed instanceof Error) throw closed;
      this.failures = 0;
    } catch (error) {
      failed = true;
      if (!this.stopped) this.log.warn(`pulling messages failed, retrying: ${describeError(error)}`);
    } finally {
      this.asked -= batch - received;
    }
    if (failed && !this.stopped) await sleep(Math.min(500 * 2 ** this.failures++, 10_000));
    this.topUp();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // they find the replica closing, and hand their messages back
    for (const next of [...this.resuming.splice(0), ...this.arrived.splice(0)]) {
      this.held++;
      next();
    }
    for (const messages of this.fetches) messages.stop();
    await Promise.allSettled([...this.running]);
  }
}
