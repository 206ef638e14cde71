import type { NewEvent, RecordedEvent } from '@parley/contracts';
import type { EventPublisher } from '@parley/messaging';
import { DuplicateEventError, OutcomeRecordedError, StreamErasedError, type AppendOptions, type EventStore } from '@parley/event-store';

/**
 * Appends an event whose id was derived from the message being handled, so handling a message
 * twice appends once. Returns null when there is nothing to do: the log already holds it (a
 * redelivery: the relay publishes whatever was committed), the turn has its outcome already
 * (recorded by another path: a give-up, a superseded turn), or the stream was erased meanwhile
 * (nothing more may be written for that user).
 */
export async function appendOnce(
  store: EventStore,
  streamId: string,
  event: NewEvent,
  options: AppendOptions = {},
): Promise<RecordedEvent | null> {
  return (await appendAllOnce(store, streamId, [event], options))?.[0] ?? null;
}

/** Several derived events, atomically: all of them, or (on a redelivery) none. */
export async function appendAllOnce(
  store: EventStore,
  streamId: string,
  events: NewEvent[],
  options: AppendOptions = {},
): Promise<RecordedEvent[] | null> {
  try {
    return await store.append(streamId, events[0].metadata.tenantId, events, 'exists', options);
  } catch (error) {
    if (error instanceof DuplicateEventError || error instanceof OutcomeRecordedError || error instanceof StreamErasedError) return null;
    throw error;
  }
}

/**
 * The write path of a handler: appends events whose ids derive from the message handled (once:
 * null when there was nothing to append), lets the caller act on what was committed (answer a
 * waiting client, wake the session's waiters) and then publishes it. Postgres is the truth; were
 * the publish lost, the relay would publish it.
 */
export async function recordOnce(
  store: EventStore,
  publisher: EventPublisher,
  streamId: string,
  events: NewEvent[],
  committed?: (recorded: RecordedEvent[]) => void,
  options: AppendOptions = {},
): Promise<RecordedEvent[] | null> {
  const recorded = await appendAllOnce(store, streamId, events, options);
  if (!recorded) return null;
  committed?.(recorded);
  await publisher.publish(store.sealed(recorded));
  return recorded;
}
