/**
 * Erasure without rewriting history: after `DELETE /v1/users/{id}` no plaintext of the user's
 * messages is left anywhere in Postgres or in the JetStream streams, and nothing brings it back.
 */
import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { eventsStreamName, eventSubject } from '@parley/contracts';
import { Client } from 'pg';
import { runCli, startTestCluster, TEST_NATS_URL, waitFor, type TestCluster } from '@parley/testing';

jest.setTimeout(60_000);
const PHRASE = 'purple-elephant-4417';

describe('erasing a user', () => {
  let t: TestCluster;
  let pg: Client;
  let nc: NatsConnection;

  beforeAll(async () => {
    // the scripted model repeats the user, so the phrase is in replies too
    t = await startTestCluster({
      label: 'erasure',
      script: (request) => ({ text: `You said: ${request.messages.at(-1)?.content}` }),
      env: { PARLEY_RELAY_POLL_MS: '50' },
    });
    pg = new Client({ connectionString: t.db.url });
    await pg.connect();
    nc = await connect({ servers: TEST_NATS_URL });
  });
  afterAll(async () => {
    await nc?.close();
    await pg?.end();
    await t?.stop();
  });

  const call = (method: string, path: string, body?: unknown) => t.call(method, path, body);

  /** Tables (and row counts) in which the phrase appears anywhere, as text. */
  async function postgresHits(): Promise<Record<string, number>> {
    const tables = (
      await pg.query(`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`)
    ).rows;
    const hits: Record<string, number> = {};
    for (const { table_name } of tables) {
      const { rows } = await pg.query(`select count(*)::int as n from "${table_name}" t where t::text like $1`, [`%${PHRASE}%`]);
      if (rows[0].n > 0) hits[table_name] = rows[0].n;
    }
    return hits;
  }

  /** JetStream messages (events and dead letters of this cluster) whose bytes contain the phrase. */
  async function jetstreamHits(): Promise<number> {
    const jsm = await jetstreamManager(nc);
    let hits = 0;
    for await (const name of jsm.streams.names()) {
      if (!name.startsWith(`${t.prefix.toUpperCase()}_`)) continue;
      const { state } = await jsm.streams.info(name);
      for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
        const message = await jsm.streams.getMessage(name, { seq }).catch(() => null);
        if (message && Buffer.from(message.data).toString('utf8').includes(PHRASE)) hits++;
      }
    }
    return hits;
  }

  const caughtUp = () =>
    waitFor(
      async () => {
        const lagging = await pg.query(`
        select s.stream_id from streams s left join session_projections p using (stream_id)
        where s.stream_id like 'session-%' and s.erased_at is null and (p.version is null or p.version < s.version)`);
        return lagging.rowCount === 0;
      },
      { what: 'the projector to catch up' },
    );

  it('leaves no plaintext of the user in Postgres or JetStream, and lets nothing bring it back', async () => {
    const { sessionId } = (await call('POST', '/v1/sessions', { userId: 'ada', metadata: { note: `likes ${PHRASE}` } })).body;
    const other = (await call('POST', '/v1/sessions', { userId: 'grace' })).body.sessionId;
    expect((await call('POST', `/v1/sessions/${sessionId}/turns`, { text: `my secret is ${PHRASE}` })).status).toBe(200);
    expect((await call('POST', `/v1/sessions/${sessionId}/turns`, { text: 'and that is all' })).status).toBe(200);
    expect((await call('POST', `/v1/sessions/${other}/turns`, { text: 'hello from grace' })).status).toBe(200);
    await caughtUp();

    // before: readable through the API, present in the read model, and sealed in the log and on the bus
    expect((await call('GET', `/v1/sessions/${sessionId}`)).body.messages[0].text).toBe(`my secret is ${PHRASE}`);
    expect(await postgresHits()).toEqual({ session_projections: 1 });
    expect(await jetstreamHits()).toBe(0);

    const erased = await call('DELETE', '/v1/users/ada');
    expect(erased).toEqual({ status: 200, body: { userId: 'ada', erased: true, streamsErased: 1 } });

    expect(await postgresHits()).toEqual({});
    expect(await jetstreamHits()).toBe(0);

    // the session is gone for the API, and no write for the user lands any more
    expect((await call('GET', `/v1/sessions/${sessionId}`)).body.error.code).toBe('SESSION.ERASED');
    const late = await call('POST', `/v1/sessions/${sessionId}/turns`, { text: `again ${PHRASE}` });
    expect([late.status, late.body.error.code]).toEqual([410, 'SESSION.ERASED']);
    const reborn = await call('POST', '/v1/sessions', { userId: 'ada' });
    expect([reborn.status, reborn.body.error.code]).toEqual([410, 'USER.ERASED']);

    // a late redelivery of one of the user's turns: the responder cannot write anything back
    const { rows } = await pg.query(
      `select data, metadata, event_id, version, recorded_at from events where stream_id = $1 and type = 'TurnRouted' order by version limit 1`,
      [`session-${sessionId}`],
    );
    const routed = {
      eventId: rows[0].event_id,
      type: 'TurnRouted' as const,
      data: rows[0].data,
      metadata: rows[0].metadata,
      streamId: `session-${sessionId}`,
      version: rows[0].version,
      globalPosition: '1',
      recordedAt: new Date(rows[0].recorded_at).toISOString(),
      schemaVersion: 2,
    };
    const before = (await pg.query('select count(*)::int as n from events')).rows[0].n;
    await jetstream(nc).publish(eventSubject(t.prefix, routed), JSON.stringify(routed), { msgID: randomUUID() });
    // wait until the responder's consumer has handled (acked) it
    const jsm = await jetstreamManager(nc);
    const durable = 'responder';
    await waitFor(
      async () => {
        const info = await jsm.consumers.info(eventsStreamName(t.prefix), durable);
        return info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.stream_seq > 0;
      },
      { what: 'the redelivered turn to be handled' },
    );
    const afterCount = (await pg.query(`select count(*)::int as n from events where stream_id = $1`, [`session-${sessionId}`])).rows[0].n;
    expect(afterCount).toBe(7);
    expect((await pg.query('select count(*)::int as n from events')).rows[0].n).toBe(before);

    // the history is intact and replays, showing what was erased
    const replay = await runCli(['replay', sessionId], { DATABASE_URL: t.db.url });
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('[personal data erased]');
    expect(replay.stdout).toContain('user: "[erased]"');
    expect(replay.stdout).not.toContain(PHRASE);

    // a rebuild does not resurrect the read model
    expect((await runCli(['rebuild'], { DATABASE_URL: t.db.url })).code).toBe(0);
    expect(await postgresHits()).toEqual({});
    expect(
      (await pg.query(`select count(*)::int as n from session_projections where stream_id = $1`, [`session-${sessionId}`])).rows[0].n,
    ).toBe(0);

    // the other user is untouched; erasing again is harmless
    expect((await call('GET', `/v1/sessions/${other}`)).body.messages[0].text).toBe('hello from grace');
    expect((await call('DELETE', '/v1/users/ada')).body).toEqual({ userId: 'ada', erased: true, streamsErased: 0 });
  });

  it('erases from the CLI too', async () => {
    const { sessionId } = (await call('POST', '/v1/sessions', { userId: 'linus' })).body;
    await call('POST', `/v1/sessions/${sessionId}/turns`, { text: 'hi' });
    const result = await runCli(['erase-user', 'linus'], { DATABASE_URL: t.db.url });
    expect(result).toMatchObject({ code: 0, stdout: expect.stringContaining('Erased user linus: 1 stream made unreadable now') });
    expect((await call('GET', `/v1/sessions/${sessionId}`)).status).toBe(410);
    expect((await runCli(['erase-user'], { DATABASE_URL: t.db.url })).code).toBe(2);
  });
});
