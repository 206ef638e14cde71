import { Logger } from '@nestjs/common';
import { BaseRpcContext, Server, type CustomTransportStrategy, type MessageHandler } from '@nestjs/microservices';
import { jetstream, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { eventsStreamName, healthSubject, parseStoredEvent, UnknownSchemaVersionError, type RecordedEvent, type StoredEvent } from '@parley/contracts';
import { ZodError } from 'zod';
import { isObservable, lastValueFrom } from 'rxjs';
import { ensureDeadLetterStream, publishDeadLetter } from './dead-letters';
import { ensureConsumer, ensureEventsStream, type ConsumerSpec } from './topology';

/** Handler pattern that receives every event type without a handler of its own. */
export const ANY_EVENT = '*';

export interface JetStreamTransportOptions {
  nc: NatsConnection;
  prefix: string;
  partitions: number;
  /** Service name, answered on the health subject. */
  service: string;
  instanceId: string;
  consumers: ConsumerSpec[];
  /** In-place retries of a failing handler before the message is nak'ed (keeps per-stream order through blips). */
  localRetries?: number;
  /** Deliveries of a failing message before it goes to the dead-letter stream. */
  maxDeliveries?: number;
  /** Opens a message's sealed personal fields (with the stream's key) before handlers see it. */
  open: (event: StoredEvent) => Promise<RecordedEvent>;
}

/** What a handler gets besides the event: the raw message, for its delivery count. */
export class JetStreamContext extends BaseRpcContext<[JsMsg]> {
  get message(): JsMsg {
    return this.args[0];
  }
  get deliveryCount(): number {
    return this.args[0].info.deliveryCount;
  }
}

/** Delay before retry number `attempt` (1-based): 0.2 s doubling, capped at 30 s. */
export const retryDelayMs = (attempt: number) => Math.min(200 * 2 ** Math.max(0, attempt - 1), 30_000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A NestJS transport over JetStream durable pull consumers (Nest's own NATS transport is core
 * NATS only). Handlers are ordinary `@EventPattern('<EventType>')` methods receiving the parsed
 * event. A message is acked after its handler resolves (the work is durable by then). A handler
 * that throws is retried in place a few times with backoff, so a blip does not reorder the
 * stream; after that the message is nak'ed with a growing delay and the server redelivers it.
 * Events of one stream are handled one at a time, in order; different streams run concurrently
 * up to the consumer's `maxAckPending`. Register `RethrowRpcErrors` so handler errors arrive intact.
 */
export class JetStreamTransport extends Server implements CustomTransportStrategy {
  private readonly log: Logger;
  private readonly running: ConsumerMessages[] = [];
  private health?: Subscription;
  private readonly tails = new Map<string, Promise<void>>();
  private readonly ackWaitMs = new Map<string, number>();
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly options: JetStreamTransportOptions) {
    super();
    this.log = new Logger(`JetStream:${options.service}`);
  }

  async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      const { nc, prefix, service, instanceId } = this.options;
      const jsm = await ensureEventsStream(nc, prefix, this.options.partitions);
      await ensureDeadLetterStream(jsm, prefix);
      const js = jetstream(nc);
      for (const spec of this.options.consumers) {
        await ensureConsumer(jsm, prefix, spec);
        this.ackWaitMs.set(spec.durable, spec.ackWaitMs);
        const consumer = await js.consumers.get(eventsStreamName(prefix), spec.durable);
        const messages = await consumer.consume({ max_messages: spec.maxAckPending });
        this.running.push(messages);
        this.loops.push(this.drive(messages, spec));
      }
      this.health = nc.subscribe(healthSubject(prefix, service), {
        callback: (error, msg) => {
          if (!error) msg.respond(JSON.stringify({ service, instanceId }));
        },
      });
      callback();
    } catch (error) {
      callback(error);
    }
  }

  private async drive(messages: ConsumerMessages, spec: ConsumerSpec): Promise<void> {
    for await (const msg of messages) {
      let event: StoredEvent;
      try {
        event = parseStoredEvent(msg.json());
      } catch (error) {
        // a message that does not parse never will: park it with the reason and move on
        await this.deadLetter(msg, `unreadable message: ${(error as Error).message}`);
        continue;
      }
      // keep per-stream order while letting other streams proceed
      const previous = this.tails.get(event.streamId) ?? Promise.resolve();
      const next = previous.then(() => this.handle(event, msg));
      this.tails.set(event.streamId, next);
      void next.finally(() => {
        if (this.tails.get(event.streamId) === next) this.tails.delete(event.streamId);
      });
    }
  }

  private async handle(event: StoredEvent, msg: JsMsg): Promise<void> {
    const handler = this.getHandlerByPattern(event.type) ?? this.getHandlerByPattern(ANY_EVENT);
    if (!handler) {
      msg.ack();
      return;
    }
    const retries = this.options.localRetries ?? 2;
    // tell the server the message is still being worked on (an LLM call can outlast ack_wait)
    const heartbeat = setInterval(() => msg.working(), (this.ackWaitMs.get(msg.info.consumer) ?? 30_000) / 3);
    try {
      await this.attempt(handler, event, msg, retries);
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async attempt(handler: MessageHandler, event: StoredEvent, msg: JsMsg, retries: number): Promise<void> {
    let opened: RecordedEvent | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        try {
          opened ??= await this.options.open(event);
        } catch (error) {
          // data that does not validate never will (a key lookup that failed might: that is retried)
          if (error instanceof ZodError || error instanceof UnknownSchemaVersionError) {
            await this.deadLetter(msg, `unreadable ${event.type}: ${error.message}`);
            return;
          }
          throw error;
        }
        const result = await handler(opened, new JetStreamContext([msg]));
        if (isObservable(result)) await lastValueFrom(result, { defaultValue: undefined });
        msg.ack();
        return;
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        const where = `${event.type} ${event.streamId}@${event.version} (delivery ${msg.info.deliveryCount})`;
        if (attempt < retries) {
          this.log.warn(`${where} failed, retrying in place: ${reason}`);
          msg.working();
          await sleep(retryDelayMs(attempt + 1));
          continue;
        }
        if (msg.info.deliveryCount >= (this.options.maxDeliveries ?? 5)) {
          await this.deadLetter(msg, `${where} kept failing: ${reason}`);
          return;
        }
        const delay = retryDelayMs(msg.info.deliveryCount + retries);
        this.log.warn(`${where} failed ${attempt + 1} times, redelivery in ${delay} ms: ${reason}`);
        msg.nak(delay);
        return;
      }
    }
  }

  /** Stores the message in the dead-letter stream, then stops its redelivery; nak'ed if storing fails. */
  private async deadLetter(msg: JsMsg, reason: string): Promise<void> {
    const { nc, prefix, service } = this.options;
    this.log.error(`Dead-lettering message on ${msg.subject}: ${reason}`);
    try {
      await publishDeadLetter(nc, prefix, {
        service,
        consumer: msg.info.consumer,
        subject: msg.subject,
        reason,
        deliveries: msg.info.deliveryCount,
        failedAt: new Date().toISOString(),
        payload: msg.string(),
      });
      msg.term(); // no reason string: nats-server 2.9 does not understand `+TERM <reason>`
    } catch (error) {
      this.log.error(`Could not store the dead letter, will retry: ${(error as Error).message}`);
      msg.nak(retryDelayMs(msg.info.deliveryCount));
    }
  }

  async close(): Promise<void> {
    this.health?.unsubscribe();
    for (const messages of this.running) messages.stop();
    await Promise.allSettled(this.loops);
    await Promise.allSettled([...this.tails.values()]);
  }

  on(): never {
    throw new Error('JetStreamTransport does not emit events');
  }

  unwrap<T>(): T {
    return this.options.nc as T;
  }
}
