import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { eventsStreamName, eventSubject, type StoredEvent } from '@parley/contracts';
import type { EventBus, PullConsumer } from './bus';
import {
  DeadLetter,
  ensureDeadLetterStream,
  listDeadLetters,
  publishDeadLetter,
  retryDeadLetter,
  type StoredDeadLetter,
} from './dead-letters';
import { EventPublisher } from './event-publisher';
import { traceHeaders } from './message-trace';
import { consumerState, ensureConsumer, ensureEventsStream, type ConsumerSpec, type ConsumerState } from './topology';

/**
 * The bus on NATS: core messages on the connection, events in the `<PREFIX>_EVENTS` JetStream
 * stream (file storage, kept 7 days, duplicates dropped within 2 minutes by event id), dead
 * letters in `<PREFIX>_DLQ`. Postgres is the source of truth; this only distributes.
 */
export class JetStreamBus extends EventPublisher implements EventBus {
  readonly kind = 'jetstream';
  private readonly js: JetStreamClient;
  private jsm?: JetStreamManager;

  constructor(
    readonly nc: NatsConnection,
    private readonly prefix: string,
  ) {
    super();
    this.js = jetstream(nc);
  }

  get core(): NatsConnection {
    return this.nc;
  }

  get maxPayload(): number {
    return this.nc.info?.max_payload ?? 1024 * 1024;
  }

  private async manager(): Promise<JetStreamManager> {
    return (this.jsm ??= await jetstreamManager(this.nc));
  }

  async ensureStreams(replicas = 1): Promise<void> {
    this.jsm = await ensureEventsStream(this.nc, this.prefix, replicas);
    await ensureDeadLetterStream(this.jsm, this.prefix, replicas);
  }

  async consumer(spec: ConsumerSpec): Promise<PullConsumer> {
    await ensureConsumer(await this.manager(), this.prefix, spec);
    return this.js.consumers.get(eventsStreamName(this.prefix), spec.durable);
  }

  consumerState(durable: string): Promise<ConsumerState | null> {
    return consumerState(this.nc, this.prefix, durable);
  }

  /** Pipelined: one connection keeps publish order, acks are awaited together. */
  async publish(events: readonly StoredEvent[]): Promise<void> {
    await Promise.all(events.map((event) => this.publishOne(event)));
  }

  async publishEach(events: readonly StoredEvent[]): Promise<(Error | null)[]> {
    const results = await Promise.allSettled(events.map((event) => this.publishOne(event)));
    return results.map((r) => (r.status === 'fulfilled' ? null : r.reason instanceof Error ? r.reason : new Error(String(r.reason))));
  }

  private async publishOne(event: StoredEvent): Promise<void> {
    // a subject that cannot be built, or a payload over max_payload, throws before anything is sent
    await this.js.publish(eventSubject(this.prefix, event), JSON.stringify(event), { msgID: event.eventId, headers: traceHeaders(event) });
  }

  /** JetStream stored them when it acknowledged the publish. */
  async durable(): Promise<void> {}

  deadLetter(letter: DeadLetter): Promise<void> {
    return publishDeadLetter(this.nc, this.prefix, letter);
  }

  async listDeadLetters(): Promise<StoredDeadLetter[]> {
    return listDeadLetters(await this.manager(), this.prefix);
  }

  async retryDeadLetter(letter: StoredDeadLetter): Promise<void> {
    await retryDeadLetter(this.nc, await this.manager(), this.prefix, letter);
  }

  isClosed(): boolean {
    return this.nc.isClosed();
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => undefined);
  }
}
