import { userStreamId, type NewEvent, type RecordedEvent } from '@parley/contracts';
import { foldUserMemory, type UserMemory } from '@parley/conversation';
import { ConcurrencyError } from './errors';
import type { EventStore } from './event-store';

/**
 * A user's memory: a stream of its own, sealed with a key owned by the user (so erasing the user
 * erases it), folded on read. Memory streams are small: facts, not transcripts.
 */
export class UserMemoryStore {
  constructor(private readonly store: EventStore) {}

  async load(tenantId: string, userId: string): Promise<UserMemory> {
    return foldUserMemory(await this.store.readStream(userStreamId(tenantId, userId)));
  }

  /** Appends to the user's stream, creating it (and its key) on the first write. */
  async append(tenantId: string, userId: string, events: NewEvent[]): Promise<RecordedEvent[]> {
    const streamId = userStreamId(tenantId, userId);
    try {
      return await this.store.append(streamId, tenantId, events, 'no_stream', { newKey: { userId } });
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
      return this.store.append(streamId, tenantId, events, 'exists');
    }
  }
}
