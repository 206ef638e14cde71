/** The hybrid router with the Demo Bank knowledge base, services as processes. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { connectDatabase, EventStore } from '@parley/event-store';
import { repoRoot, runCli, startTestCluster, waitFor, type TestCluster } from '@parley/testing';

jest.setTimeout(90_000);

describe('hybrid routing with a knowledge base', () => {
  let t: TestCluster;
  const answers = JSON.parse(readFileSync(join(repoRoot(), 'data/demo-bank/answers.json'), 'utf8')) as Record<string, string>;

  beforeAll(async () => {
    t = await startTestCluster({
      label: 'hybrid',
      script: (request) => ({ text: `LLM answer to: ${request.messages.at(-1)?.content}` }),
      beforeStart: async (db) => {
        const env = { DATABASE_URL: db.url };
        expect((await runCli(['migrate'], env)).code).toBe(0);
        const demo = join(repoRoot(), 'data/demo-bank');
        expect((await runCli(['kb', 'import', join(demo, 'questions.csv'), '--answers', join(demo, 'answers.json')], env)).code).toBe(0);
      },
      readyTimeoutMs: 150_000, // the router trains the Demo Bank matcher before it answers (slower while other tests train theirs)
    });
  });
  afterAll(() => t?.stop());

  const post = (path: string, body: unknown) => t.post(path, body);
  const llmSaw = (text: string) => t.llm.requests.filter((r) => r.messages.at(-1)?.content === text);

  it('answers a confident FAQ question from the knowledge base without calling the LLM, and records which version', async () => {
    const question = 'My new card still has not arrived, when will it come?';
    const res = await post('/v1/turns', { text: question });
    expect(res.status).toBe(200);
    expect(res.body.route).toMatchObject({ mode: 'stateless', reason: 'no-session-faq', intent: 'card_arrival' });
    expect(res.body.route.confidence).toBeGreaterThanOrEqual(0.7);
    expect(res.body.reply.text).toBe(answers.card_arrival);
    expect(llmSaw(question)).toHaveLength(0);

    const database = await connectDatabase(t.db.url, { max: 1 });
    try {
      const events = await new EventStore(database.db).readStream(`turn-${res.body.turnId}`);
      expect(events.map((e) => e.type)).toEqual(['UserMessageReceived', 'TurnRouted', 'AssistantReplied']);
      expect(events[1].data).toMatchObject({
        mode: 'stateless',
        route: 'faq',
        features: { intent: 'card_arrival', kbVersion: 1, threshold: 0.7 },
      });
      expect(events[2].data).toMatchObject({ text: answers.card_arrival, model: 'kb:v1', contextMessages: 0 });
    } finally {
      await database.close();
    }
  });

  it('sends a question from another domain to the LLM, still reporting the best match', async () => {
    const question = 'Can you recommend a good Italian restaurant for tonight?';
    const res = await post('/v1/turns', { text: question });
    expect(res.status).toBe(200);
    expect(res.body.route).toMatchObject({ mode: 'stateless', reason: 'no-session-below-threshold' });
    expect(typeof res.body.route.intent).toBe('string');
    expect(res.body.route.confidence).toBeLessThan(0.7);
    expect(res.body.reply.text).toBe(`LLM answer to: ${question}`);
    expect(llmSaw(question)[0].messages).toHaveLength(2); // system + the question alone
  });

  it('answers an FAQ statelessly in a session, then takes a follow-up about it statefully with the whole history', async () => {
    const { sessionId } = (await post('/v1/sessions', { userId: 'hybrid-user' })).body;
    const faq = await post(`/v1/sessions/${sessionId}/turns`, { text: 'I lost my card, what should I do?' });
    expect(faq.body.route).toMatchObject({ mode: 'stateless', reason: 'faq-confident', intent: 'lost_or_stolen_card' });
    expect(faq.body.reply.text).toBe(answers.lost_or_stolen_card);

    const followUp = "That didn't help, I already froze it and I still need money today";
    const next = await post(`/v1/sessions/${sessionId}/turns`, { text: followUp });
    expect(next.status).toBe(200);
    expect(next.body.route.mode).toBe('stateful');
    expect(['faq-did-not-help', 'faq-below-threshold']).toContain(next.body.route.reason);
    expect(typeof next.body.route.intent).toBe('string'); // the best match is reported for stateful turns too
    // the LLM saw the FAQ exchange before the follow-up
    expect(llmSaw(followUp)[0].messages.map((m) => m.content)).toEqual([
      expect.any(String),
      'I lost my card, what should I do?',
      answers.lost_or_stolen_card,
      followUp,
    ]);

    // what each kind of answer cost, in the session and for the tenant
    const session = (await t.get(`/v1/sessions/${sessionId}`)).body;
    expect(session.usage.faq).toEqual({ turns: 1, promptTokens: 0, completionTokens: 0 });
    expect(session.usage.stateful.turns).toBe(1);
    expect(session.usage.stateful.promptTokens).toBeGreaterThan(0);
    const tenant = (await t.get('/v1/usage')).body;
    expect(tenant.usage.faq.turns).toBe(2); // this session's FAQ turn and the stateless FAQ question
    expect(tenant.usage.stateless.turns).toBe(1); // the restaurant question
    expect(tenant.usage.stateful.turns).toBe(1);

    const replay = await runCli(['replay', sessionId], { DATABASE_URL: t.db.url });
    expect(replay.stdout).toContain('→ stateless via faq (faq-confident)');
    expect(replay.stdout).toContain('"kbVersion":1');
    expect(replay.stdout).toContain('kb:v1');
  });

  it("follows the tenant's routing policy when it is not hybrid, and a client's forced mode over it", async () => {
    const env = { DATABASE_URL: t.db.url };
    const question = 'I lost my card, what should I do?';
    try {
      expect((await runCli(['tenants', 'set', '--tenant', 'default', '--routing-policy', 'stateful'], env)).code).toBe(0);
      const { sessionId } = (await post('/v1/sessions', {})).body;
      await waitFor(
        async () => (await post(`/v1/sessions/${sessionId}/turns`, { text: question })).body.route?.reason === 'tenant-policy-stateful',
        {
          what: 'the stateful policy to apply',
          timeoutMs: 5_000,
        },
      );
      const forced = await post(`/v1/sessions/${sessionId}/turns`, { text: question, mode: 'stateless' });
      expect(forced.body.route).toMatchObject({ mode: 'stateless', reason: 'client-forced-stateless-faq' });

      const other = (await post('/v1/sessions', {})).body.sessionId;
      expect((await post(`/v1/sessions/${other}/turns`, { text: 'Hi, this is Ada about my card' })).body.route.mode).toBe('stateful');
      expect((await runCli(['tenants', 'set', '--tenant', 'default', '--routing-policy', 'stateless'], env)).code).toBe(0);
      const followUp = 'and what about the money I had on it?';
      await waitFor(async () => (await post(`/v1/sessions/${other}/turns`, { text: followUp })).body.route?.mode === 'stateless', {
        what: 'the stateless policy to apply',
        timeoutMs: 5_000,
      });
      const last = llmSaw(followUp).at(-1)!;
      expect(last.messages.map((m) => m.content)).toEqual([expect.any(String), followUp]); // the request alone, not Ada's first turn
    } finally {
      expect((await runCli(['tenants', 'set', '--tenant', 'default', '--routing-policy', 'default'], env)).code).toBe(0);
    }
  });

  it('answers a confident FAQ hit through the OpenAI-compatible API without calling the LLM, streamed or not', async () => {
    const client = new OpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: t.apiKey, maxRetries: 0 });
    const question = 'My new card still has not arrived, when will it come?';
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: question }] })
      .withResponse();
    expect(data.choices[0]).toMatchObject({ message: { content: answers.card_arrival }, finish_reason: 'stop' });
    expect(data.usage).toMatchObject({ prompt_tokens: 0, completion_tokens: 0 });
    expect(response.headers.get('x-parley-route')).toBe('stateless; reason=no-session-faq');

    const headers = { 'X-Parley-Session': 'bank-chat-7' };
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: question }], stream: true },
      { headers },
    );
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(answers.card_arrival);
    const viaResponses = await client.responses.create({ model: 'gpt-4o-mini', input: question });
    expect(viaResponses.output_text).toBe(answers.card_arrival);
    expect(llmSaw(question)).toHaveLength(0);
  });

  it('routes turns that need no session state in ingress itself, answering sessionless FAQ ones in one append, with no router running', async () => {
    const database = await connectDatabase(t.db.url, { max: 1 });
    const store = new EventStore(database.db);
    const turn = async (text: string) => {
      const res = await post('/v1/turns', { text });
      expect(res.status).toBe(200);
      return { res, events: await store.readStream(`turn-${res.body.turnId}`) };
    };
    try {
      // ingress trains its matcher in the background at startup; until then the router answers
      await waitFor(async () => (await turn('How do I activate my card?')).events[0].metadata.routed === true, {
        timeoutMs: 60_000,
        intervalMs: 500,
        what: "ingress's own FAQ answers",
      });
      await t.cluster.kill('router');
      const { res, events } = await turn('I lost my card, what should I do?');
      expect(res.body.route).toMatchObject({ mode: 'stateless', reason: 'no-session-faq', intent: 'lost_or_stolen_card' });
      expect(res.body.reply.text).toBe(answers.lost_or_stolen_card);
      // the events the router would have written, in the same transaction as the message
      expect(events.map((e) => e.type)).toEqual(['UserMessageReceived', 'TurnRouted', 'AssistantReplied']);
      expect(events[0].metadata).toMatchObject({ routed: true });
      expect(events[1].metadata).toMatchObject({ causationId: events[0].eventId, correlationId: res.body.turnId });
      expect(events[2].data).toMatchObject({ model: 'kb:v1', text: answers.lost_or_stolen_card });
      const tx = await database.pool.query('select count(distinct transaction_id)::int as n from events where stream_id = $1', [
        `turn-${res.body.turnId}`,
      ]);
      expect(tx.rows[0].n).toBe(1);
      // a retry with the same Idempotency-Key is the same turn, answered from the log
      const keyed = () => t.post('/v1/turns', { text: 'What is the exchange rate?' }, { 'idempotency-key': 'faq-retry-1' });
      const [once, again] = [await keyed(), await keyed()];
      expect(again.status).toBe(200);
      expect(again.body).toEqual(once.body);
      expect((await store.readStream(`turn-${once.body.turnId}`)).map((e) => e.type)).toEqual([
        'UserMessageReceived',
        'TurnRouted',
        'AssistantReplied',
      ]);
      // a sessionless question for the LLM is routed here too, and goes straight to the responder
      const other = await post('/v1/turns', { text: 'Can you recommend a good Italian restaurant for tomorrow?' });
      expect(other.status).toBe(200);
      expect(other.body.route).toMatchObject({ mode: 'stateless', reason: 'no-session-below-threshold' });
      expect(other.body.reply.text).toBe('LLM answer to: Can you recommend a good Italian restaurant for tomorrow?');
      const asked = await store.readStream(`turn-${other.body.turnId}`);
      expect(asked.map((e) => e.type)).toEqual(['UserMessageReceived', 'TurnRouted', 'AssistantReplied']);
      expect(asked[0].metadata).toMatchObject({ routed: true });
      // in a session too, whenever the decision needs no session state: a forced mode, say
      const { sessionId } = (await post('/v1/sessions', {})).body;
      const forced = await post(`/v1/sessions/${sessionId}/turns`, { text: 'I lost my card, what should I do?', mode: 'stateful' });
      expect(forced.status).toBe(200);
      expect(forced.body.route).toMatchObject({ mode: 'stateful', reason: 'client-forced-stateful' });
      expect(forced.body.reply.text).toBe('LLM answer to: I lost my card, what should I do?');
      const inSession = await store.readStream(`session-${sessionId}`);
      expect(inSession.map((e) => e.type)).toEqual(['SessionStarted', 'UserMessageReceived', 'TurnRouted', 'AssistantReplied']);
      expect(inSession[1].metadata).toMatchObject({ routed: true });
    } finally {
      await database.close();
    }
  });

  it('restarts a router ready at once: the trained matcher is stored with its knowledge base version, not trained again', async () => {
    const trainedOnce = t.cluster.logs.filter((l) => /knowledge base v1 \(\d+ entries\) trained in/.test(l));
    expect(trainedOnce.length).toBeGreaterThanOrEqual(1); // the first start trained it (router or ingress) and stored it
    const before = t.cluster.logs.length;
    await t.cluster.kill('router');
    t.cluster.startService('router');
    await waitFor(() => t.cluster.logs.slice(before).some((l) => l.startsWith('[router]') && l.includes('consuming from')), {
      what: 'the router to consume',
      timeoutMs: 30_000,
    });
    const restarted = t.cluster.logs.slice(before).filter((l) => l.startsWith('[router]'));
    expect(restarted.some((l) => /knowledge base v1 loaded, trained before/.test(l))).toBe(true);
    expect(restarted.some((l) => /trained in/.test(l))).toBe(false);
    await t.cluster.waitUntilReady();
    // and it routes with the stored model as it did with the trained one
    const { sessionId } = (await post('/v1/sessions', {})).body;
    const res = await post(`/v1/sessions/${sessionId}/turns`, { text: 'My new card still has not arrived, when will it come?' });
    expect(res.body.route).toMatchObject({ mode: 'stateless', reason: 'faq-confident', intent: 'card_arrival' });
  });

  it('does not answer a follow-up as if it stood alone: read after the turn before, it means something else', async () => {
    const { sessionId } = (await post('/v1/sessions', {})).body;
    const first = await post(`/v1/sessions/${sessionId}/turns`, { text: 'My card is about to expire' });
    expect(first.body.route).toMatchObject({ mode: 'stateless', reason: 'faq-confident', intent: 'card_about_to_expire' });
    // alone, this is confidently about automatic top-ups; after the turn before, about the expiring card
    const followUp = 'Will you send a new one automatically?';
    const next = await post(`/v1/sessions/${sessionId}/turns`, { text: followUp });
    expect(next.body.route).toMatchObject({ mode: 'stateful', reason: 'follow-up-in-context', intent: 'automatic_top_up' });
    expect(llmSaw(followUp)[0].messages.map((m) => m.content)).toEqual([
      expect.any(String),
      'My card is about to expire',
      answers.card_about_to_expire,
      followUp,
    ]);
    const events = (await t.get(`/v1/sessions/${sessionId}/events`)).body.events as {
      type: string;
      data: { features?: Record<string, unknown> };
    }[];
    expect(events.filter((e) => e.type === 'TurnRouted').at(-1)!.data.features).toMatchObject({ contextIntent: 'card_about_to_expire' });
  });
});
