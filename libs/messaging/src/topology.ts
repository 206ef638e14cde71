import {
  AckPolicy,
  DeliverPolicy,
  jetstreamManager,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { eventFilter, eventsStreamName, eventsStreamSubjects, type EventAudience } from '@parley/contracts';
import type { NatsConnection } from '@nats-io/transport-node';
import { MessagingError, MessagingErrorCodes } from './errors';

const SECOND_NS = 1_000_000_000;

/** A durable pull consumer a service reads through. */
export interface ConsumerSpec {
  /** Durable name, unique per service and purpose; every replica of the service pulls from it. */
  durable: string;
  /** Subject filter (one subject: nats-server 2.9 has no `filter_subjects`). */
  filterSubject: string;
  /**
   * Messages handed out and not yet acknowledged, across every replica: the server's cap. Each
   * replica holds at most its own limit (`PARLEY_MAX_CONCURRENT_TURNS`), so this only has to be
   * above the sum of theirs.
   */
  maxAckPending: number;
  /** Where a newly created consumer starts: every retained event, or only new ones. */
  deliverFrom: 'all' | 'new';
  /** Milliseconds before an unacknowledged message is redelivered (the transport heartbeats long handlers). */
  ackWaitMs: number;
}

/** The server-side cap on unacknowledged messages of one service's consumer: room for many replicas. */
export const CONSUMER_MAX_ACK_PENDING = 20_000;

/**
 * Creates the events stream if it is missing; running it again changes nothing. The stream
 * captures every subject under `<prefix>.events`, whatever its layout.
 */
export async function ensureEventsStream(nc: NatsConnection, prefix: string, replicas = 1): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, replicas, {
    name: eventsStreamName(prefix),
    description: 'Parley events',
    subjects: eventsStreamSubjects(prefix),
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: 7 * 24 * 3600 * SECOND_NS,
    duplicate_window: 120 * SECOND_NS,
  });
  return jsm;
}

/**
 * Creates the stream with `replicas` copies (`PARLEY_STREAM_REPLICAS`), or — when it exists with
 * another number — changes it to that (JetStream moves the copies while the stream serves). A
 * server that cannot hold that many (a single node asked for 3) refuses, and the error says so.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  replicas: number,
  config: Partial<StreamConfig> & { name: string },
): Promise<void> {
  const { name } = config;
  const wanted = { ...config, num_replicas: replicas };
  const refused = (error: unknown) =>
    new MessagingError(
      MessagingErrorCodes.Unavailable,
      `JetStream stream ${name} cannot have ${replicas} replica(s) (PARLEY_STREAM_REPLICAS): ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  let info;
  try {
    info = await jsm.streams.info(name);
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || error.status !== 404) throw error;
    try {
      await placing(() => jsm.streams.add(wanted));
      return;
    } catch (addError) {
      // another service created it between our look and our add
      if (!(addError instanceof JetStreamApiError) || !/already in use|already exists/i.test(addError.message)) throw refused(addError);
      info = await jsm.streams.info(name);
    }
  }
  if ((info.config.num_replicas || 1) === replicas) return;
  try {
    await placing(() => jsm.streams.update(name, { ...info.config, num_replicas: replicas }));
  } catch (error) {
    throw refused(error);
  }
}

/** How long a cluster that is still forming (its peers not all current yet) is given to place copies. */
const PLACEMENT_WAIT_MS = 30_000;

/**
 * Runs a stream add or update, trying again while the cluster cannot place the copies *yet* — a
 * JetStream cluster coming up beside the services. A server that never can (one node asked for
 * 3) keeps refusing, and the last refusal is thrown.
 */
async function placing<T>(attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + PLACEMENT_WAIT_MS;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      const transient = error instanceof JetStreamApiError && /no suitable peers for placement|insufficient resources/i.test(error.message);
      if (!transient || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/**
 * Creates or updates a durable consumer to match the spec (nats-server 2.9.10 updates a filter
 * subject in place). A service that ran with one durable per partition (`<durable>-p<i>`, before
 * sessions were ordered by the transport) has those replaced: the new durable starts where the
 * least advanced of them stood, so nothing they had not handled is skipped (what some had
 * handled already comes again, and handlers are idempotent), and they are deleted.
 */
export async function ensureConsumer(jsm: JetStreamManager, prefix: string, spec: ConsumerSpec): Promise<void> {
  const stream = eventsStreamName(prefix);
  const config = {
    durable_name: spec.durable,
    filter_subject: spec.filterSubject,
    ack_policy: AckPolicy.Explicit,
    max_ack_pending: spec.maxAckPending,
    // unlimited: the transport counts deliveries and dead-letters; the server must never drop silently
    max_deliver: -1,
    ack_wait: spec.ackWaitMs * 1_000_000,
  };
  const legacy = await legacyPartitionDurables(jsm, stream, spec.durable);
  try {
    await jsm.consumers.info(stream, spec.durable);
    // a filter from an older subject layout is brought up to date too: the durable keeps its place
    await jsm.consumers.update(stream, spec.durable, {
      filter_subject: config.filter_subject,
      max_ack_pending: config.max_ack_pending,
      max_deliver: config.max_deliver,
      ack_wait: config.ack_wait,
    });
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || error.status !== 404) throw error;
    const resumeAt = legacy.length ? Math.min(...legacy.map((c) => c.ack_floor.stream_seq)) + 1 : 0;
    try {
      await jsm.consumers.add(stream, {
        ...config,
        ...(resumeAt > 0
          ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: resumeAt }
          : { deliver_policy: spec.deliverFrom === 'all' ? DeliverPolicy.All : DeliverPolicy.New }),
      });
    } catch (addError) {
      // another replica created it first
      if (!(addError instanceof JetStreamApiError) || !/already in use|already exists/i.test(addError.message)) throw addError;
    }
  }
  for (const old of legacy) await jsm.consumers.delete(stream, old.name).catch(() => undefined);
}

async function legacyPartitionDurables(jsm: JetStreamManager, stream: string, durable: string) {
  const pattern = new RegExp(`^${durable}-p\\d+$`); // durable names are subject tokens: nothing to escape
  const found = [];
  for await (const info of jsm.consumers.list(stream)) if (pattern.test(info.name)) found.push(info);
  return found;
}

export interface ServiceConsumer {
  /** Durable name (the service's name, or the service's and its purpose's). */
  name: string;
  /** Only the events for this audience (the server filters on the subject), or every event. */
  audience?: EventAudience;
  deliverFrom: ConsumerSpec['deliverFrom'];
  ackWaitMs: number;
}

/**
 * A service's one durable consumer, shared by its replicas: each replica pulls what it has room
 * for, and keeps each session in order itself (see `JetStreamTransport`).
 */
export function serviceConsumer(prefix: string, spec: ServiceConsumer): ConsumerSpec {
  return {
    durable: spec.name,
    filterSubject: eventFilter(prefix, spec.audience),
    maxAckPending: CONSUMER_MAX_ACK_PENDING,
    deliverFrom: spec.deliverFrom,
    ackWaitMs: spec.ackWaitMs,
  };
}

/** Where a durable consumer stands: messages not yet delivered, delivered and not acked, being redelivered. */
export interface ConsumerState {
  pending: number;
  ackPending: number;
  redelivered: number;
}

/** The server's view of a durable consumer on the events stream (null when it does not exist). */
export async function consumerState(nc: NatsConnection, prefix: string, durable: string): Promise<ConsumerState | null> {
  const jsm = await jetstreamManager(nc, { timeout: 1_500, checkAPI: false });
  try {
    const info = await jsm.consumers.info(eventsStreamName(prefix), durable);
    return { pending: info.num_pending, ackPending: info.num_ack_pending, redelivered: info.num_redelivered };
  } catch (error) {
    if (error instanceof Error && /consumer not found/i.test(error.message)) return null;
    throw error;
  }
}
