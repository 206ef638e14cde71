/**
 * `PARLEY_MATCHER=encoder`: the router and ingress match with a sentence encoder's embeddings
 * beside TF-IDF (the encoder in a thread of each), store that model under its own format, and
 * `parley rerun` and `routing what-if` re-decide with the same encoder, exactly as recorded.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectDatabase, KnowledgeBaseRepository } from '@parley/event-store';
import { MATCHER_FORMAT, matcherFormat } from '@parley/knowledge';
import { runCli, smallKnowledgeBase, startTestCluster, type TestCluster } from '@parley/testing';

jest.setTimeout(300_000);
/** Embedding every training text (the 2,015 out-of-scope ones too) takes about 30 s alone on two cores. */
const TRAINING_MS = 180_000;

describe('the encoder matcher (PARLEY_MATCHER=encoder)', () => {
  let t: TestCluster;
  let env: Record<string, string>;
  const dir = mkdtempSync(join(tmpdir(), 'parley-encoder-'));

  beforeAll(async () => {
    t = await startTestCluster({
      label: 'encoder',
      script: (request) => ({ text: `LLM answer to: ${request.messages.at(-1)?.content}` }),
      env: { PARLEY_MATCHER: 'encoder' },
      beforeStart: async (db) => {
        env = { DATABASE_URL: db.url, PARLEY_MATCHER: 'encoder' };
        expect((await runCli(['migrate'], env)).code).toBe(0);
        const kb = smallKnowledgeBase(dir);
        expect((await runCli(['kb', 'import', kb.questions, '--answers', kb.answers], env)).code).toBe(0);
      },
      readyTimeoutMs: TRAINING_MS, // the router embeds and trains before it answers
    });
  });
  afterAll(() => t?.stop());

  it('answers from the knowledge base with the model that takes embeddings, stored under its own format', async () => {
    const res = await t.post('/v1/turns', { text: 'My new card still has not arrived, when will it come?' });
    expect(res.status).toBe(200);
    expect(res.body.route).toMatchObject({ reason: 'no-session-faq', intent: 'card_arrival' });

    const database = await connectDatabase(t.db.url, { max: 1 });
    try {
      const models = new KnowledgeBaseRepository(database.db);
      expect(await models.model('default', 1, matcherFormat('use-lite'))).not.toBeNull();
      expect(matcherFormat('use-lite')).not.toBe(MATCHER_FORMAT);
      expect(await models.model('default', 1, MATCHER_FORMAT)).toBeNull(); // no TF-IDF model was trained
    } finally {
      await database.close();
    }
  });

  it('routes in-session turns in the router with it, and rerun and what-if re-decide them exactly as recorded', async () => {
    const { sessionId } = (await t.post('/v1/sessions', {})).body;
    const routes = [];
    for (const text of ['Is Google Pay supported?', 'What exchange rate do you use?', 'thanks, and can you tell me a joke?']) {
      const res = await t.post(`/v1/sessions/${sessionId}/turns`, { text });
      expect(res.status).toBe(200);
      routes.push(res.body.route);
    }
    // the router decided (an in-session turn of a hybrid tenant the knowledge base could answer), embedding as it went
    expect(routes).toMatchObject([
      { reason: 'faq-confident', intent: 'apple_pay_or_google_pay' },
      { reason: 'faq-confident', intent: 'exchange_rate' }, // read after the turn before it too
      { mode: 'stateful', reason: 'faq-below-threshold' },
    ]);
    const rerun = await runCli(['rerun', sessionId], env, TRAINING_MS);
    expect(rerun.stderr).toContain('using the FAQ matcher of knowledge base v1 the services trained');
    expect(rerun.stdout).toContain('All 3 turns route and build their contexts as recorded.');
    expect(rerun.code).toBe(0);

    const whatIf = await runCli(['routing', 'what-if', '--json'], env, TRAINING_MS);
    expect(whatIf.code).toBe(0);
    const report = JSON.parse(whatIf.stdout);
    expect(report.turns).toBeGreaterThanOrEqual(4);
    expect(report.counts.same).toBe(report.turns);
  });
});
