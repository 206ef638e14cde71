import type { NewEvent, RecordedEvent } from '@parley/contracts';
import { DuplicateEventError, StreamErasedError, type EventStore } from '@parley/event-store';

/**
 * Appends an event whose id was derived from the message being handled, so handling a message
 * twice appends once. Returns null when there is nothing to do: the log already holds it (a
 * redelivery: the relay publishes whatever was committed), or the stream was erased meanwhile
 * (nothing more may be written for that user).
 */
export async function appendOnce(store: EventStore, streamId: string, event: NewEvent): Promise<RecordedEvent | null> {
  return (await appendAllOnce(store, streamId, [event]))?.[0] ?? null;
}

/** Several derived events, atomically: all of them, or (on a redelivery) none. */
export async function appendAllOnce(store: EventStore, streamId: string, events: NewEvent[]): Promise<RecordedEvent[] | null> {
  try {
    return await store.append(streamId, events[0].metadata.tenantId, events, 'exists');
  } catch (error) {
    if (error instanceof DuplicateEventError || error instanceof StreamErasedError) return null;
    throw error;
  }
}
