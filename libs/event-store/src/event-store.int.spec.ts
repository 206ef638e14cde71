import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { NewEvent } from '@parley/contracts';
import { createTestDatabase, type TestDatabase } from '@parley/testing';
import { connectDatabase, ensureDatabase, migrateDatabase, type Database } from './database';
import { ConcurrencyError, DuplicateEventError, EventTooLargeError, OutcomeRecordedError, pgErrorOf, StreamNotFoundError } from './errors';
import { EventStore } from './event-store';
import { loadSessionState, SessionProjectionRepository } from './session-projection.repository';
import { recountUsage, tenantUsage } from './usage.query';

const tenantId = 'default';
const started = (sessionId: string): NewEvent => ({
  eventId: randomUUID(),
  type: 'SessionStarted',
  data: { sessionId, userId: null, metadata: {} },
  metadata: { tenantId },
});
const said = (text: string, turnId = randomUUID()): NewEvent => ({
  eventId: randomUUID(),
  type: 'UserMessageReceived',
  data: { turnId, text, requestedMode: 'auto' },
  metadata: { tenantId },
});

describe('EventStore against PostgreSQL', () => {
  let testDb: TestDatabase;
  let database: Database;
  let store: EventStore;

  beforeAll(async () => {
    testDb = await createTestDatabase('event_store');
    await migrateDatabase(testDb.url);
    await migrateDatabase(testDb.url); // idempotent
    database = await connectDatabase(testDb.url, { max: 8 });
    store = new EventStore(database.db);
  });
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  it('appends to a new stream and reads it back in order', async () => {
    const sessionId = randomUUID();
    const streamId = `session-${sessionId}`;
    const first = await store.append(streamId, tenantId, [started(sessionId), said('hello')], 'no_stream');
    expect(first.map((e) => [e.type, e.version])).toEqual([
      ['SessionStarted', 1],
      ['UserMessageReceived', 2],
    ]);
    await store.append(streamId, tenantId, [said('again')], 2);
    const read = await store.readStream(streamId);
    expect(read.map((e) => e.version)).toEqual([1, 2, 3]);
    expect(read[2]).toMatchObject({ type: 'UserMessageReceived', data: { text: 'again' }, streamId });
    expect(BigInt(read[1].globalPosition)).toBeGreaterThan(BigInt(read[0].globalPosition));
    expect(await store.readStream(streamId, { after: 1, upTo: 2 })).toEqual([read[1]]);
    expect(await store.readEvent(read[2].eventId)).toEqual(read[2]);
  });

  it('rejects an append at a stale version with a typed, retryable error', async () => {
    const sessionId = randomUUID();
    const streamId = `session-${sessionId}`;
    await store.append(streamId, tenantId, [started(sessionId)], 'no_stream');
    await store.append(streamId, tenantId, [said('a')], 1);
    await expect(store.append(streamId, tenantId, [said('b')], 1)).rejects.toEqual(expect.any(ConcurrencyError));
    await expect(store.append(streamId, tenantId, [said('b')], 1)).rejects.toMatchObject({ code: 'EVENT_STORE.CONCURRENCY', actual: 2 });
    await expect(store.append(streamId, tenantId, [started(sessionId)], 'no_stream')).rejects.toEqual(expect.any(ConcurrencyError));
    expect((await store.readStream(streamId)).map((e) => e.version)).toEqual([1, 2]);
  });

  it('reports a missing stream when appending to one that must exist', async () => {
    await expect(store.append('session-nope', tenantId, [said('x')], 'exists')).rejects.toEqual(expect.any(StreamNotFoundError));
    await expect(store.append('session-nope', tenantId, [said('x')], 3)).rejects.toEqual(expect.any(StreamNotFoundError));
  });

  it('rejects a duplicate event id and leaves the stream untouched', async () => {
    const sessionId = randomUUID();
    const streamId = `session-${sessionId}`;
    await store.append(streamId, tenantId, [started(sessionId)], 'no_stream');
    const event = said('once');
    await store.append(streamId, tenantId, [event], 'exists');
    await expect(store.append(streamId, tenantId, [event], 'exists')).rejects.toEqual(expect.any(DuplicateEventError));
    expect((await store.streamInfo(streamId))?.version).toBe(2);
  });

  it('lands every concurrent append from many connections, each at a distinct version', async () => {
    const sessionId = randomUUID();
    const streamId = `session-${sessionId}`;
    await store.append(streamId, tenantId, [started(sessionId)], 'no_stream');
    const texts = Array.from({ length: 40 }, (_, i) => `m${i}`);
    await Promise.all(texts.map((t) => store.append(streamId, tenantId, [said(t)], 'exists')));
    const read = await store.readStream(streamId);
    expect(read.map((e) => e.version)).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    expect(new Set(read.slice(1).map((e) => (e.data as { text: string }).text))).toEqual(new Set(texts));
  });

  it('lets exactly one of two racing optimistic appends win', async () => {
    const sessionId = randomUUID();
    const streamId = `session-${sessionId}`;
    await store.append(streamId, tenantId, [started(sessionId)], 'no_stream');
    const results = await Promise.allSettled([
      store.append(streamId, tenantId, [said('left')], 1),
      store.append(streamId, tenantId, [said('right')], 1),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof ConcurrencyError)).toHaveLength(1);
  });

  it('is append-only in the database itself: UPDATE, DELETE and TRUNCATE fail', async () => {
    const sessionId = randomUUID();
    await store.append(`session-${sessionId}`, tenantId, [started(sessionId)], 'no_stream');
    for (const statement of [sql`update events set type = 'X'`, sql`delete from events`, sql`truncate events`]) {
      const error = await database.db.execute(statement).then(
        () => null,
        (e: unknown) => e,
      );
      expect(pgErrorOf(error).message).toMatch(/events are append-only/);
    }
  });

  it('loads session state from the projection plus the events it has not folded yet', async () => {
    const sessionId = randomUUID();
    const streamId = `session-${sessionId}`;
    const projections = new SessionProjectionRepository(database.db);
    await store.append(streamId, tenantId, [started(sessionId), said('one')], 'no_stream');
    const early = await loadSessionState(store, projections, sessionId);
    await projections.save(streamId, tenantId, early, '2026-01-01T00:00:00.000Z');
    await store.append(streamId, tenantId, [said('two')], 'exists');
    const loaded = await loadSessionState(store, projections, sessionId);
    expect(loaded.version).toBe(3);
    expect(loaded.state.status === 'open' && loaded.state.messages.map((m) => m.text)).toEqual(['one', 'two']);
    // a stale save does not overwrite a newer projection
    await projections.save(streamId, tenantId, loaded, '2026-01-01T00:00:01.000Z');
    await projections.save(streamId, tenantId, early, '2026-01-01T00:00:00.000Z');
    expect((await projections.load(streamId))?.version).toBe(3);
  });

  it('ignores a stored fold made by another version of the fold, and replaces it', async () => {
    const sessionId = randomUUID();
    const streamId = `session-${sessionId}`;
    const projections = new SessionProjectionRepository(database.db);
    await store.append(streamId, tenantId, [started(sessionId), said('real')], 'no_stream');
    // a row an older fold wrote: wrong as far as today's code is concerned
    await database.db.execute(sql`
      insert into session_projections (stream_id, tenant_id, version, fold_version, state)
      values (${streamId}, ${tenantId}, 2, 0, ${JSON.stringify({ status: 'open', messages: [{ text: 'stale' }] })}::jsonb)`);
    expect(await projections.load(streamId)).toBeNull();
    const loaded = await loadSessionState(store, projections, sessionId);
    expect(loaded.state.status === 'open' && loaded.state.messages.map((m) => m.text)).toEqual(['real']);
    await projections.save(streamId, tenantId, loaded, '2026-01-01T00:00:00.000Z'); // same version, newer fold: replaces it
    expect((await projections.load(streamId))?.state).toEqual(loaded.state);
  });

  it('upcasts events stored by older code when it reads them, leaving the row as it was', async () => {
    const sessionId = randomUUID();
    const streamId = `session-${sessionId}`;
    await store.append(streamId, tenantId, [started(sessionId)], 'no_stream');
    // a TurnRouted as schema version 1 wrote it, before route and features existed
    await database.db.execute(sql`update streams set version = 2 where stream_id = ${streamId}`);
    await database.db.execute(sql`
      insert into events (event_id, stream_id, version, type, schema_version, data, metadata, tenant_id)
      values (${randomUUID()}, ${streamId}, 2, 'TurnRouted', 1,
              ${JSON.stringify({ turnId: 't-old', mode: 'stateful', reason: 'session-default-stateful' })}::jsonb,
              ${JSON.stringify({ tenantId })}::jsonb, ${tenantId})`);
    const [, routed] = await store.readStream(streamId);
    expect(routed).toMatchObject({
      type: 'TurnRouted',
      schemaVersion: 2,
      data: { turnId: 't-old', mode: 'stateful', route: 'llm', reason: 'session-default-stateful', features: {} },
    });
    const raw = await database.db.execute(sql`select schema_version, data from events where stream_id = ${streamId} and version = 2`);
    expect(raw.rows[0]).toEqual({ schema_version: 1, data: { turnId: 't-old', mode: 'stateful', reason: 'session-default-stateful' } });
  });

  it('holds one outcome per turn, whoever records it: a second is refused, the first stands', async () => {
    const sessionId = randomUUID();
    const streamId = `session-${sessionId}`;
    const turnId = randomUUID();
    await store.append(streamId, tenantId, [started(sessionId), said('are you there?', turnId)], 'no_stream');
    const reply: NewEvent = {
      eventId: randomUUID(),
      type: 'AssistantReplied',
      data: { turnId, text: 'yes', model: 'm', usage: null, latencyMs: 1, contextMessages: 2, interrupted: null },
      metadata: { tenantId },
    };
    const gaveUp: NewEvent = {
      eventId: randomUUID(),
      type: 'TurnFailed',
      data: { turnId, code: 'TURN.UNANSWERED', message: 'gave up' },
      metadata: { tenantId },
    };
    // two writers race with different event ids: one wins
    const results = await Promise.allSettled([
      store.append(streamId, tenantId, [reply], 'exists'),
      store.append(streamId, tenantId, [gaveUp], 'exists'),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: expect.any(OutcomeRecordedError) });
    const outcome = await store.outcomeOf(streamId, turnId);
    expect(['AssistantReplied', 'TurnFailed']).toContain(outcome?.type);
    expect((await store.readStream(streamId)).filter((e) => e.type === 'AssistantReplied' || e.type === 'TurnFailed')).toHaveLength(1);
    // another turn's outcome is its own
    const other = randomUUID();
    await store.append(
      streamId,
      tenantId,
      [said('and now?', other), { ...reply, eventId: randomUUID(), data: { ...reply.data, turnId: other } } as NewEvent],
      'exists',
    );
    expect((await store.outcomeOf(streamId, other))?.data).toMatchObject({ turnId: other, text: 'yes' });
    expect(await store.outcomeOf(streamId, randomUUID())).toBeNull();
  });

  it('refuses, before writing anything, an event the bus could not carry (sealed, it only grows)', async () => {
    const sessionId = randomUUID();
    const streamId = `session-${sessionId}`;
    const small = new EventStore(database.db, undefined, { maxEventBytes: 10_000 });
    await small.append(streamId, tenantId, [started(sessionId)], 'no_stream', { newKey: { userId: null } });
    // 8,000 characters would fit as they are; sealed (encrypted, base64) they do not
    await expect(small.append(streamId, tenantId, [said('y'.repeat(8_000))], 'exists')).rejects.toEqual(expect.any(EventTooLargeError));
    await expect(small.append(streamId, tenantId, [said('fits'), said('z'.repeat(20_000))], 'exists')).rejects.toThrow(
      /UserMessageReceived event of \d+ bytes is over the 10000 bytes/,
    );
    expect((await store.readStream(streamId)).map((e) => e.type)).toEqual(['SessionStarted']); // nothing of either append
    await small.append(streamId, tenantId, [said('y'.repeat(5_000))], 'exists');
  });

  it('counts usage as answers are recorded, in the same statement (nothing for an append that fails), and a recount from the log agrees', async () => {
    const tenant = `usage-${randomUUID().slice(0, 8)}`;
    const turn = async (
      route: 'faq' | 'llm',
      mode: 'stateful' | 'stateless',
      usage: { promptTokens: number; completionTokens: number } | null,
    ) => {
      const sessionId = randomUUID();
      const streamId = `session-${sessionId}`;
      const turnId = randomUUID();
      await store.append(
        streamId,
        tenant,
        [
          { ...started(sessionId), metadata: { tenantId: tenant } },
          { ...said('q', turnId), metadata: { tenantId: tenant } },
        ],
        'no_stream',
      );
      const events: NewEvent[] = [
        {
          eventId: randomUUID(),
          type: 'TurnRouted',
          data: { turnId, mode, route, reason: 'r', features: {} },
          metadata: { tenantId: tenant },
        },
        {
          eventId: randomUUID(),
          type: 'AssistantReplied',
          data: { turnId, text: 'a', model: 'm', usage, latencyMs: 1, contextMessages: 1, interrupted: null },
          metadata: { tenantId: tenant },
        },
      ];
      const kind = route === 'faq' ? 'faq' : mode;
      const increment = { kind, turns: 1, promptTokens: usage?.promptTokens ?? 0, completionTokens: usage?.completionTokens ?? 0 } as const;
      await store.append(streamId, tenant, events, 'exists', { usage: increment });
      // a retry of the same append fails as a whole: counted once
      await expect(store.append(streamId, tenant, events, 'exists', { usage: increment })).rejects.toEqual(expect.any(DuplicateEventError));
    };
    await turn('faq', 'stateless', null);
    await turn('llm', 'stateless', { promptTokens: 10, completionTokens: 2 });
    for (let i = 0; i < 5; i++) await turn('llm', 'stateful', { promptTokens: 100, completionTokens: 20 });
    const counted = await tenantUsage(database.db, tenant);
    expect(counted).toEqual({
      faq: { turns: 1, promptTokens: 0, completionTokens: 0 },
      stateless: { turns: 1, promptTokens: 10, completionTokens: 2 },
      stateful: { turns: 5, promptTokens: 500, completionTokens: 100 },
    });
    await recountUsage(database.db, tenant);
    expect(await tenantUsage(database.db, tenant)).toEqual(counted);
  });

  it('creates a missing database once', async () => {
    const url = new URL(testDb.url);
    url.pathname = `/${testDb.name}_created`;
    expect(await ensureDatabase(url.toString())).toBe(true);
    expect(await ensureDatabase(url.toString())).toBe(false);
    const admin = await connectDatabase(testDb.url, { max: 1 });
    await admin.pool.query(`drop database "${testDb.name}_created"`);
    await admin.close();
  });

  it('fails with a clear message when PostgreSQL cannot be reached', async () => {
    await expect(connectDatabase('postgres://postgres@127.0.0.1:1/x')).rejects.toThrow(
      /Cannot reach PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\/x/,
    );
  });
});
