import type { MsgHdrs } from '@nats-io/transport-node';
import type { StoredEvent } from '@parley/contracts';
import type { DeadLetter, StoredDeadLetter } from './dead-letters';
import type { ConsumerSpec, ConsumerState } from './topology';

/**
 * What Parley needs of a message bus, in two parts: core messages (turn replies and deltas,
 * stream signals, health, erasure notices: fire-and-forget, to whoever listens now) and the
 * events stream (every committed event, handed to each service's durable consumer until it is
 * acknowledged). `JetStreamBus` carries both over NATS; `InProcessBus` carries them inside one
 * process for the embedded mode (`npm start` with neither server). Both keep the delivery contract
 * of docs/event-log.md, which `transport.contract.ts` checks against each.
 */

/** A core message as a subscriber sees it. */
export interface CoreMsg {
  readonly subject: string;
  string(): string;
  json<T = unknown>(): T;
  /** Answers a request (false when the message asked for no answer). */
  respond(payload?: string): boolean;
}

export interface CoreSubscription {
  unsubscribe(): void;
}

/** Core publish/subscribe: at most once, to the subscribers of the moment (NATS subject wildcards). */
export interface CoreBus {
  publish(subject: string, payload?: string, options?: { headers?: MsgHdrs }): void;
  subscribe(subject: string, options: { callback: (error: Error | null, msg: CoreMsg) => void }): CoreSubscription;
  /** One answer from a subscriber, or a rejection after `timeout` ms (or at once when nobody listens). */
  request(subject: string, payload?: string, options?: { timeout: number }): Promise<CoreMsg>;
  /** Resolves once what was published has left this process. */
  flush(): Promise<void>;
}

/** A message handed out by a durable consumer: acknowledged, refused for later, or given up on. */
export interface DeliveredMessage {
  readonly subject: string;
  readonly headers?: Pick<MsgHdrs, 'get'>;
  readonly info: { readonly deliveryCount: number; readonly consumer: string };
  string(): string;
  json<T = unknown>(): T;
  /** Done: never delivered to this consumer again. */
  ack(): void;
  /** Not now: delivered again after `millis` (at once without). */
  nak(millis?: number): void;
  /** Never: not delivered again (the caller stored it as a dead letter first). */
  term(): void;
  /** Still being worked on: restarts the acknowledgement timer. */
  working(): void;
}

/** The messages of one pull: up to the number asked for, as they come, until it expires or is stopped. */
export interface PulledMessages extends AsyncIterable<DeliveredMessage> {
  stop(): void;
  /** Settles when the pull ended; an Error when it ended because the bus failed. */
  closed(): Promise<void | Error>;
}

export interface PullConsumer {
  fetch(options: { max_messages: number; expires: number; idle_heartbeat?: number }): Promise<PulledMessages>;
}

/** The events stream and its consumers, and where messages no handler could process go. */
export interface EventBus {
  /** `jetstream`: NATS servers; `in-process`: this process only (the embedded mode). */
  readonly kind: 'jetstream' | 'in-process';
  /** Core messages on the same bus. */
  readonly core: CoreBus;
  /** The largest message the bus carries, in bytes (an event must fit, with room for subject and headers). */
  readonly maxPayload: number;
  /** Creates the events and dead-letter streams if they are missing (`replicas` copies on a cluster). */
  ensureStreams(replicas?: number): Promise<void>;
  /** Creates or updates a durable consumer, and returns it for pulling. */
  consumer(spec: ConsumerSpec): Promise<PullConsumer>;
  /** Where a durable consumer stands (null when it does not exist). */
  consumerState(durable: string): Promise<ConsumerState | null>;
  /** Publishes committed events in order (stored form); a repeat of an event id within the duplicate window is dropped. */
  publish(events: readonly StoredEvent[]): Promise<void>;
  /** Publishes each event like `publish`; what came of each (null: published). */
  publishEach(events: readonly StoredEvent[]): Promise<(Error | null)[]>;
  /**
   * Resolves once the bus no longer needs the log to hold these published events for it: at once
   * for JetStream (it stores them), once every consumer has settled them for the in-process bus
   * (its memory goes with the process). The relay moves its checkpoint past events only then.
   */
  durable(events: readonly StoredEvent[]): Promise<void>;
  /** Stores a dead letter durably before the caller terminates the message. */
  deadLetter(letter: DeadLetter): Promise<void>;
  listDeadLetters(): Promise<StoredDeadLetter[]>;
  /** Publishes a dead letter's payload on its subject again and removes the letter. */
  retryDeadLetter(letter: StoredDeadLetter): Promise<void>;
  /** Closed for good (a NATS connection that gave up, or a bus that was closed). */
  isClosed(): boolean;
  /** Lets what is in flight out, then disconnects. */
  close(): Promise<void>;
}
