import type { NewEvent, RecordedEvent } from '@parley/contracts';
import { DuplicateEventError, type EventStore } from '@parley/event-store';

/**
 * Appends an event whose id was derived from the message being handled, so handling a message
 * twice appends once. Returns null when the log already holds it (a redelivery): the first
 * attempt's event is already there, and the relay publishes whatever was committed.
 */
export async function appendOnce(store: EventStore, streamId: string, event: NewEvent): Promise<RecordedEvent | null> {
  try {
    const [recorded] = await store.append(streamId, event.metadata.tenantId, [event], 'exists');
    return recorded;
  } catch (error) {
    if (error instanceof DuplicateEventError) return null;
    throw error;
  }
}
