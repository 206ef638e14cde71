import type { EventType, NewEvent, RecordedEvent } from '@parley/contracts';

/**
 * Recorded events of one session stream, built in memory (for tests and examples of the pure
 * domain): versions count up from 1, times one second apart.
 */
export function eventRecorder(streamId = 'session-s1') {
  let version = 0;
  return {
    record<T extends EventType>(type: T, data: Extract<NewEvent, { type: T }>['data']): RecordedEvent {
      version += 1;
      return {
        eventId: `00000000-0000-4000-8000-${String(version).padStart(12, '0')}`,
        type,
        data,
        metadata: { tenantId: 'default' },
        streamId,
        version,
        globalPosition: String(version),
        recordedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, version)).toISOString(),
        schemaVersion: 1,
      } as RecordedEvent;
    },
    /** The next event gets version `to + 1`. */
    reset(to = 0): void {
      version = to;
    },
  };
}
