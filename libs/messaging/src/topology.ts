import {
  AckPolicy,
  DeliverPolicy,
  jetstreamManager,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { eventFilter, eventsStreamName, eventsStreamSubjects, type EventAudience } from '@parley/contracts';
import type { NatsConnection } from '@nats-io/transport-node';

const SECOND_NS = 1_000_000_000;

/** A durable pull consumer a service reads through. */
export interface ConsumerSpec {
  /** Durable name, unique per service and purpose. */
  durable: string;
  /** Subject filter (one subject: nats-server 2.9 has no `filter_subjects`). */
  filterSubject: string;
  /** Messages in flight before the server waits for acks. */
  maxAckPending: number;
  /** Where a newly created consumer starts: every retained event, or only new ones. */
  deliverFrom: 'all' | 'new';
  /** Milliseconds before an unacknowledged message is redelivered (the transport heartbeats long handlers). */
  ackWaitMs: number;
}

/** The partition count is part of the subject layout, so it is written on the stream and checked. */
const description = (partitions: number) => `Parley events (partitions=${partitions})`;

/**
 * Creates the events stream if it is missing; running it again changes nothing. Refuses to run
 * with a partition count other than the one the stream was created with: messages would land on
 * subjects no consumer reads.
 */
export async function ensureEventsStream(nc: NatsConnection, prefix: string, partitions: number): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  const name = eventsStreamName(prefix);
  try {
    const info = await jsm.streams.info(name);
    const existing = /partitions=(\d+)/.exec(info.config.description ?? '')?.[1];
    if (existing && Number(existing) !== partitions) {
      throw new Error(
        `JetStream stream ${name} was created with PARLEY_PARTITIONS=${existing}, but this process has ${partitions}; ` +
          'run every service with the same value',
      );
    }
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || error.status !== 404) throw error;
    try {
      await jsm.streams.add({
        name,
        description: description(partitions),
        subjects: eventsStreamSubjects(prefix),
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        max_age: 7 * 24 * 3600 * SECOND_NS,
        duplicate_window: 120 * SECOND_NS,
      });
    } catch (addError) {
      // another service created it between our look and our add
      if (!(addError instanceof JetStreamApiError) || !/already in use|already exists/i.test(addError.message)) throw addError;
    }
  }
  return jsm;
}

/** Creates or updates a durable consumer to match the spec (nats-server 2.9.10 updates a filter subject in place). */
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
    await jsm.consumers.add(stream, {
      ...config,
      deliver_policy: spec.deliverFrom === 'all' ? DeliverPolicy.All : DeliverPolicy.New,
    });
  }
}

export interface PartitionedConsumer {
  /** Base durable name; partition i reads through `<name>-p<i>`. */
  name: string;
  /** Only the events for this audience (the server filters on the subject), or every event. */
  audience?: EventAudience;
  deliverFrom: ConsumerSpec['deliverFrom'];
  ackWaitMs: number;
}

/**
 * One durable per partition, each with a single message in flight: every replica pulls from every
 * partition, and the server hands a partition's next message out only after the previous one was
 * acknowledged, which keeps each session in order however many replicas run.
 */
export function partitionedConsumers(prefix: string, partitions: number, spec: PartitionedConsumer): ConsumerSpec[] {
  return Array.from({ length: partitions }, (_, partition) => ({
    durable: `${spec.name}-p${partition}`,
    filterSubject: eventFilter(prefix, partition, spec.audience),
    maxAckPending: 1,
    deliverFrom: spec.deliverFrom,
    ackWaitMs: spec.ackWaitMs,
  }));
}
