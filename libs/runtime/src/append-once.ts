import type { NewEvent, RecordedEvent } from '@parley/contracts';
import { DuplicateEventError, type EventStore } from '@parley/event-store';

/**
 * Appends an event whose id was derived from the message being handled. On a redelivery the log
 * already holds it: return the stored copy so the caller can publish it again (the first attempt
 * may have crashed between commit and publish) without appending twice.
 */
export async function appendOnce(store: EventStore, streamId: string, event: NewEvent): Promise<RecordedEvent[]> {
  try {
    return await store.append(streamId, event.metadata.tenantId, [event], 'exists');
  } catch (error) {
    if (!(error instanceof DuplicateEventError)) throw error;
    const stored = await store.readEvent(event.eventId);
    if (!stored) throw error;
    return [stored];
  }
}
