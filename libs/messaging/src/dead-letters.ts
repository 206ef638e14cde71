import { jetstream, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { ensureStream } from './topology';
import type { NatsConnection } from '@nats-io/transport-node';
import { audienceOf, deadLetterStreamName, deadLetterSubject, parseStoredEvent } from '@parley/contracts';
import { z } from 'zod';

/** What a service records when it gives up on a message. */
export const DeadLetter = z.object({
  /** Service that gave up. */
  service: z.string(),
  /** Durable consumer the message came through. */
  consumer: z.string(),
  /** Subject the message was published on (where a retry re-publishes it). */
  subject: z.string(),
  /** Why: the parse error, or the handler's last error. */
  reason: z.string(),
  /** Deliveries before giving up. */
  deliveries: z.number().int(),
  /** ISO time of giving up. */
  failedAt: z.string(),
  /** The message body as received (UTF-8). */
  payload: z.string(),
});
export type DeadLetter = z.infer<typeof DeadLetter>;

export interface StoredDeadLetter extends DeadLetter {
  /** Sequence in the dead-letter stream: the id `parley dlq retry` takes. */
  seq: number;
}

const DAY_NS = 24 * 3600 * 1_000_000_000;

export async function ensureDeadLetterStream(jsm: JetStreamManager, prefix: string, replicas = 1): Promise<void> {
  await ensureStream(jsm, replicas, {
    name: deadLetterStreamName(prefix),
    description: 'Parley dead letters: messages no handler could process',
    subjects: [`${prefix}.dlq.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: 30 * DAY_NS,
  });
}

/** Stores a dead letter durably (awaits JetStream's ack) before the caller terminates the message. */
export async function publishDeadLetter(nc: NatsConnection, prefix: string, letter: DeadLetter): Promise<void> {
  await jetstream(nc).publish(deadLetterSubject(prefix, letter.service), JSON.stringify(DeadLetter.parse(letter)));
}

export async function listDeadLetters(jsm: JetStreamManager, prefix: string): Promise<StoredDeadLetter[]> {
  const name = deadLetterStreamName(prefix);
  let state;
  try {
    ({ state } = await jsm.streams.info(name));
  } catch (error) {
    if (error instanceof JetStreamApiError && error.status === 404) return [];
    throw error;
  }
  const letters: StoredDeadLetter[] = [];
  if (state.messages === 0) return letters;
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const message = await jsm.streams.getMessage(name, { seq }).catch(() => null);
    if (!message) continue; // deleted after a retry
    const parsed = DeadLetter.safeParse(message.json());
    letters.push(
      parsed.success
        ? { seq, ...parsed.data }
        : {
            seq,
            service: '?',
            consumer: '?',
            subject: message.subject,
            reason: 'unreadable dead letter',
            deliveries: 0,
            failedAt: '',
            payload: message.string(),
          },
    );
  }
  return letters;
}

/**
 * Re-publishes a dead letter's payload on its original subject (`retrySubject`) and removes it from the
 * dead-letter stream. Handlers are idempotent, so a retry of something that did take effect is
 * harmless. The message id is fresh, so JetStream's duplicate window does not swallow the retry.
 */
export async function retryDeadLetter(nc: NatsConnection, jsm: JetStreamManager, prefix: string, letter: StoredDeadLetter): Promise<void> {
  await jetstream(nc).publish(retrySubject(letter), letter.payload, { msgID: `dlq-retry-${prefix}-${letter.seq}-${Date.now()}` });
  await jsm.streams.deleteMessage(deadLetterStreamName(prefix), letter.seq);
}

/**
 * Where a retry goes: the original subject, or — for an event dead-lettered before subjects ended
 * in their audience (five tokens after `<prefix>.events` became six) — that subject with the
 * event's audience appended, so that today's consumers' filters see it. A payload that does not
 * parse goes back where it was (and is dead-lettered again, with the reason).
 */
export function retrySubject(letter: Pick<DeadLetter, 'subject' | 'payload'>): string {
  const tokens = letter.subject.split('.');
  if (tokens[1] !== 'events' || tokens.length !== 6) return letter.subject;
  try {
    return `${letter.subject}.${audienceOf(parseStoredEvent(JSON.parse(letter.payload)))}`;
  } catch {
    return letter.subject;
  }
}
