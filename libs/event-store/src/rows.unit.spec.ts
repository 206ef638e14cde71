import { z } from 'zod';
import { EventStoreError } from './errors';
import { toStored } from './event-store';
import { Col, firstRowOf, onlyRowOf, rowsOf } from './rows';

describe('rows read from Postgres are parsed, not cast', () => {
  const Row = z.object({ stream_id: Col.text, version: Col.int, n: Col.bigint, at: Col.time.nullable() });

  it('gives the rows in the shape the query selects', () => {
    const rows = rowsOf({ rows: [{ stream_id: 's', version: 3, n: '9007199254740993', at: '2026-11-30T10:00:00Z' }] }, Row, 'probe');
    expect(rows).toEqual([{ stream_id: 's', version: 3, n: '9007199254740993', at: new Date('2026-11-30T10:00:00Z') }]);
    expect(firstRowOf({ rows: [] }, Row, 'probe')).toBeUndefined();
  });

  it('fails by name, with the query and the column, when a row is not what the code expects', () => {
    const wrong = () => rowsOf({ rows: [{ stream_id: 's', version: '3', n: 1, at: null }] }, Row, 'stream versions');
    expect(wrong).toThrow(EventStoreError);
    expect(wrong).toThrow(/^stream versions: column version /);
    expect(() => onlyRowOf({ rows: [] }, Row, 'a count')).toThrow(/^a count: no row came back/);
  });

  it('checks an event row before trusting it', () => {
    const row = {
      global_position: '7',
      event_id: '1d7b6a8e-5a0c-4c4e-9a43-1f4b3c2d1e0f',
      stream_id: 'session-x',
      version: 1,
      type: 'SessionStarted',
      schema_version: 1,
      data: { sessionId: 'x', userId: null, metadata: {} },
      metadata: { tenantId: 'default' },
      recorded_at: new Date('2026-11-30T10:00:00Z'),
    };
    expect(toStored(row)).toMatchObject({ streamId: 'session-x', version: 1, globalPosition: '7', recordedAt: '2026-11-30T10:00:00.000Z' });
    expect(() => toStored({ ...row, version: '1' })).toThrow(/an event row/);
    expect(() => toStored(null)).toThrow(EventStoreError);
  });
});
