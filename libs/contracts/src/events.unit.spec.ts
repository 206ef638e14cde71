/**
 * Golden fixtures pin every event type at every schema version: a change to a schema that would
 * stop old events from reading fails here, and so does a new version without an upcaster.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EVENT_SCHEMA_VERSIONS,
  EVENT_TYPES,
  parseRecordedEvent,
  PERSONAL_FIELDS,
  UnknownSchemaVersionError,
  upcastEventData,
  type EventType,
} from './events';

const dir = join(__dirname, '..', 'fixtures', 'events');
interface Fixture {
  type: EventType;
  schemaVersion: number;
  data: unknown;
  /** For old versions: the data once upcast to the current version. */
  upcast?: unknown;
}
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((file) => ({ file, ...(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Fixture) }));

describe('event schema versions', () => {
  it('has a fixture for every type at every version from 1 to the current one', () => {
    const expected = EVENT_TYPES.flatMap((type) => Array.from({ length: EVENT_SCHEMA_VERSIONS[type] }, (_, i) => `${type}.v${i + 1}.json`));
    expect(fixtures.map((f) => f.file).sort()).toEqual(expected.sort());
  });

  it.each(fixtures.map((f) => [f.file, f] as const))('%s reads as the current version', (file, fixture) => {
    expect(file).toBe(`${fixture.type}.v${fixture.schemaVersion}.json`);
    const current = EVENT_SCHEMA_VERSIONS[fixture.type];
    if (fixture.schemaVersion === current) {
      expect(fixture.upcast).toBeUndefined();
      expect(upcastEventData(fixture.type, fixture.schemaVersion, fixture.data)).toEqual(fixture.data);
    } else {
      expect(upcastEventData(fixture.type, fixture.schemaVersion, fixture.data)).toEqual(fixture.upcast);
    }
  });

  it('upcasts a whole recorded event from the wire, and treats a missing version as 1', () => {
    const v1 = fixtures.find((f) => f.type === 'TurnRouted' && f.schemaVersion === 1)!;
    const envelope = {
      eventId: '1d7b6a8e-5a0c-4c4e-9a43-1f4b3c2d1e0f',
      type: v1.type,
      data: v1.data,
      metadata: { tenantId: 'default' },
      streamId: 'session-x',
      version: 3,
      globalPosition: '17',
      recordedAt: '2026-01-01T00:00:00.000Z',
    };
    expect(parseRecordedEvent(envelope)).toEqual({ ...envelope, data: v1.upcast, schemaVersion: 2 });
    expect(parseRecordedEvent({ ...envelope, schemaVersion: 1 }).data).toEqual(v1.upcast);
  });

  it.each(fixtures.filter((f) => f.schemaVersion === EVENT_SCHEMA_VERSIONS[f.type]).map((f) => [f.type, f] as const))(
    "%s still reads once erased: its personal fields' placeholders fit its schema",
    (type, fixture) => {
      const erased = { ...(fixture.data as object), ...PERSONAL_FIELDS[type] };
      expect(() => upcastEventData(type, fixture.schemaVersion, erased)).not.toThrow();
    },
  );

  it('refuses data from a newer version than this code knows, by name', () => {
    expect(() => upcastEventData('TurnRouted', 3, {})).toThrow(UnknownSchemaVersionError);
    expect(() => upcastEventData('TurnRouted', 0, {})).toThrow(/schema version 0/);
  });
});
