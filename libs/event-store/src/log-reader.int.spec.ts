import { randomUUID } from 'node:crypto';
import type { NewEvent } from '@parley/contracts';
import { createTestDatabase, waitFor, type TestDatabase } from '@parley/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { Client } from 'pg';
import { connectDatabase, migrateDatabase, type Database } from './database';
import { EventStore } from './event-store';
import { LOG_START, LogCheckpoints, readLogAfter, type LogPosition } from './log-reader';

const said = (text: string): NewEvent => ({
  eventId: randomUUID(),
  type: 'UserMessageReceived',
  data: { turnId: randomUUID(), text, requestedMode: 'auto' },
  metadata: { tenantId: 'default' },
});

describe('reading the log in commit order', () => {
  let testDb: TestDatabase;
  let database: Database;
  let store: EventStore;

  beforeAll(async () => {
    testDb = await createTestDatabase('log_reader');
    await migrateDatabase(testDb.url);
    database = await connectDatabase(testDb.url);
    store = new EventStore(database.db);
  });
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  async function readAll(from: LogPosition, batch = 2) {
    const texts: string[] = [];
    let position = from;
    for (;;) {
      const page = await readLogAfter(database.db, position, batch);
      if (page.events.length === 0) return { texts, position };
      texts.push(...page.events.map((e) => (e.data as { text: string }).text));
      position = page.position;
    }
  }

  it('never skips an event whose transaction commits after a later, faster one', async () => {
    // pg_snapshot_xmin is cluster-wide: other test files' open transactions can hold reads back for a moment
    await store.append('s-before', 'default', [said('before')], 'no_stream');
    const start = await waitFor(async () => {
      const read = await readAll(LOG_START);
      return read.texts.length === 1 ? read : undefined;
    });
    expect(start.texts).toEqual(['before']);

    // a slow transaction takes the lower global position first...
    const slow = new Client({ connectionString: testDb.url });
    await slow.connect();
    await slow.query('begin');
    await new EventStore(drizzle(slow) as never).append('s-slow', 'default', [said('slow')], 'no_stream');

    // ...a fast one appends after it and commits first
    await store.append('s-fast', 'default', [said('fast')], 'no_stream');

    // a reader now must not pass the slow transaction's position: it sees nothing yet
    const during = await readAll(start.position);
    expect(during.texts).toEqual([]);

    await slow.query('commit');
    await slow.end();

    // once the slow one commits, both arrive, nothing skipped, in transaction order (the slow
    // transaction wrote first, so it has the lower transaction id)
    const after = await waitFor(async () => {
      const read = await readAll(start.position);
      return read.texts.length === 2 ? read : undefined;
    });
    expect(after.texts).toEqual(['slow', 'fast']);
    expect(await readAll(after.position)).toEqual({ texts: [], position: after.position });
  });

  it('pages through many events without losing or repeating one', async () => {
    const texts = Array.from({ length: 25 }, (_, i) => `bulk-${i}`);
    const from = (await readAll(LOG_START)).position;
    await Promise.all(texts.map((t) => store.append(`s-${t}`, 'default', [said(t)], 'no_stream')));
    const read = await waitFor(async () => {
      const all = await readAll(from, 7);
      return all.texts.length >= texts.length ? all : undefined;
    });
    expect(read.texts.sort()).toEqual([...texts].sort());
  });

  it('keeps named checkpoints', async () => {
    const checkpoints = new LogCheckpoints(database.db);
    expect(await checkpoints.load('relay')).toEqual(LOG_START);
    const { position } = await readAll(LOG_START);
    expect(position).not.toEqual(LOG_START);
    await checkpoints.save('relay', position);
    expect(await checkpoints.load('relay')).toEqual(position);
  });
});
