/** Memory across sessions: learned through the LLM's remember tool, curated through the API. */
import { seatMemoryScript, startTestCluster, type TestCluster } from '@parley/testing';

jest.setTimeout(60_000);

describe('memory across sessions', () => {
  let t: TestCluster;

  beforeAll(async () => {
    t = await startTestCluster({ label: 'memory', script: seatMemoryScript });
  });
  afterAll(() => t?.stop());

  const call = (method: string, path: string, body?: unknown) => t.call(method, path, body);
  const lastRequestWith = (text: string) => [...t.llm.requests].reverse().find((r) => r.messages.some((m) => m.content === text))!;

  it('uses in session 2 a preference the user stated in session 1', async () => {
    const first = (await call('POST', '/v1/sessions', { userId: 'traveller-1' })).body.sessionId;
    const said = await call('POST', `/v1/sessions/${first}/turns`, { text: 'For flights I prefer an aisle seat, please.' });
    expect(said.body.reply.text).toBe('Noted, I will keep that in mind.');
    // the model was offered the tool, called it, and got the result back before answering
    const followUp = lastRequestWith('For flights I prefer an aisle seat, please.');
    expect(followUp.tools).toEqual([
      expect.objectContaining({ type: 'function', function: expect.objectContaining({ name: 'remember' }) }),
    ]);

    expect((await call('GET', '/v1/users/traveller-1/memory')).body.facts).toEqual({
      seat_preference: { value: 'aisle seat', source: 'llm', updatedAt: expect.any(String) },
    });

    const second = (await call('POST', '/v1/sessions', { userId: 'traveller-1' })).body.sessionId;
    await call('POST', `/v1/sessions/${second}/turns`, { text: 'Book me on the 9am flight to Lisbon.' });
    const context = lastRequestWith('Book me on the 9am flight to Lisbon.').messages;
    expect(context[1]).toEqual({
      role: 'system',
      content: 'What you know about this user from earlier conversations:\n- seat_preference: aisle seat',
    });
    expect(context.at(-1)).toEqual({ role: 'user', content: 'Book me on the 9am flight to Lisbon.' });
    expect(context.some((m) => m.content === 'For flights I prefer an aisle seat, please.')).toBe(false); // memory, not the old transcript

    // another user's sessions see none of it, and stateless turns read no memory
    const stranger = (await call('POST', '/v1/sessions', { userId: 'someone-else' })).body.sessionId;
    await call('POST', `/v1/sessions/${stranger}/turns`, { text: 'Hello there' });
    expect(lastRequestWith('Hello there').messages.filter((m) => m.role === 'system')).toHaveLength(1);
    await call('POST', '/v1/turns', { text: 'Stateless hello' });
    expect(lastRequestWith('Stateless hello').tools).toBeUndefined();
  });

  it('lets the application read and curate memory', async () => {
    const put = await call('PUT', '/v1/users/curated/memory', { facts: { language: 'Portuguese', diet: 'vegetarian' } });
    expect(put.status).toBe(200);
    expect(Object.keys(put.body.facts).sort()).toEqual(['diet', 'language']);
    const replaced = await call('PUT', '/v1/users/curated/memory', { facts: { language: 'English' } });
    expect(replaced.body.facts.language).toMatchObject({ value: 'English', source: 'api' });
    const forgotten = await call('DELETE', '/v1/users/curated/memory/diet');
    expect(Object.keys(forgotten.body.facts)).toEqual(['language']);
    expect((await call('DELETE', '/v1/users/curated/memory/diet')).body.error.code).toBe('MEMORY.NOT_FOUND');
    expect((await call('PUT', '/v1/users/curated/memory', { facts: {} })).status).toBe(400);
    expect((await call('PUT', '/v1/users/curated/memory', { facts: { 'bad name': 'x' } })).status).toBe(400);
    expect((await call('GET', '/v1/users/nobody/memory')).body.error.code).toBe('USER.NOT_FOUND');

    // erasing the user erases the memory too
    expect((await call('DELETE', '/v1/users/curated')).body.streamsErased).toBe(1);
    expect((await call('GET', '/v1/users/curated/memory')).body.error.code).toBe('USER.ERASED');
    expect((await call('PUT', '/v1/users/curated/memory', { facts: { language: 'x' } })).status).toBe(410);
    const { Client } = await import('pg');
    const pg = new Client({ connectionString: t.db.url });
    await pg.connect();
    const plain = await pg.query(
      `select count(*)::int as n from events e where e::text like '%Portuguese%' or e::text like '%vegetarian%'`,
    );
    await pg.end();
    expect(plain.rows[0].n).toBe(0);
  });
});
