/**
 * Real multi-turn conversations through the stateful path: 24 Schema-Guided Dialogue dialogues,
 * the scripted model answering each user turn with the assistant turn recorded in the dataset.
 * Every turn's LLM input must hold the prior turns in order, and the final state the whole dialogue.
 * A second cluster with a small context budget must give every turn the rolling summary plus the
 * recent turns instead, staying under the budget as the dialogues grow.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { contextTokens, SUMMARY_INSTRUCTIONS } from '@parley/conversation';
import { startTestCluster, type ChatRequest, type ScriptedReply, type TestCluster } from '@parley/testing';

jest.setTimeout(120_000);

interface Dialogue {
  dialogueId: string;
  turns: { speaker: 'USER' | 'SYSTEM'; utterance: string }[];
}
const dialogues = JSON.parse(readFileSync(join(__dirname, 'fixtures/sgd-dialogues.json'), 'utf8')) as Dialogue[];

/** The recorded assistant reply to the user turn a request ends with. */
function recordedReply(request: ChatRequest) {
  const said = request.messages.filter((m) => m.role === 'user').map((m) => m.content);
  const dialogue = dialogues.find((d) => d.turns[0].utterance === said[0]);
  const reply = dialogue?.turns[2 * (said.length - 1) + 1];
  return reply ? { text: reply.utterance } : { status: 500 };
}

describe('Schema-Guided Dialogue conversations through the stateful path', () => {
  let t: TestCluster;

  beforeAll(async () => {
    t = await startTestCluster({ label: 'sgd', script: recordedReply });
  });
  afterAll(() => t?.stop());

  it(`replays ${dialogues.length} dialogues: each turn sees every earlier turn, in order, and the state ends whole`, async () => {
    const replay = async (dialogue: Dialogue) => {
      const { sessionId } = (await t.post('/v1/sessions', { metadata: { dialogueId: dialogue.dialogueId } })).body;
      const transcript: { role: string; content: string }[] = [];
      for (let i = 0; i < dialogue.turns.length; i += 2) {
        const user = dialogue.turns[i].utterance;
        const res = await t.post(`/v1/sessions/${sessionId}/turns`, { text: user });
        expect(res.status).toBe(200);
        expect(res.body.route.mode).toBe('stateful');
        expect(res.body.reply.text).toBe(dialogue.turns[i + 1].utterance);
        // what the model was given for this turn: the system prompt, then the transcript so far
        const request = t.llm.requests.find(
          (r) =>
            r.messages.at(-1)?.content === user &&
            r.messages[1]?.content === dialogue.turns[0].utterance &&
            r.messages.length === transcript.length + 2,
        );
        expect(request?.messages.slice(1)).toEqual([...transcript, { role: 'user', content: user }]);
        transcript.push({ role: 'user', content: user }, { role: 'assistant', content: dialogue.turns[i + 1].utterance });
      }
      const state = (await t.get(`/v1/sessions/${sessionId}`)).body;
      expect(state.messages.map((m: { role: string; text: string }) => ({ role: m.role, content: m.text }))).toEqual(transcript);
      expect(state.version).toBe(1 + (dialogue.turns.length / 2) * 3);
      expect(state.usage.stateful.turns).toBe(dialogue.turns.length / 2);
    };
    // several conversations at once, as a real deployment would have them
    for (let i = 0; i < dialogues.length; i += 6) await Promise.all(dialogues.slice(i, i + 6).map(replay));
  });
});

const SUMMARY_PREFIX = 'Summary of the earlier conversation:\n';
const BUDGET = 220;

/**
 * The scripted model of the summary variant. A summary request gets `[<dialogueId>] <n> messages`,
 * n counting the previous summary's messages and the new ones, so the test can tell exactly which
 * messages a summary stands for. An answer request is matched to its dialogue and user turn
 * through the summary (or the first message) and gets the recorded reply; every answer request is
 * kept with the turn it answers.
 */
class SummarizingScript {
  readonly answered = new Map<string, ChatRequest>(); // `${dialogueId}#${userTurn}` → request
  readonly summaries: string[] = [];

  readonly script = (request: ChatRequest): ScriptedReply => {
    const messages = request.messages;
    if (messages[0].content === SUMMARY_INSTRUCTIONS) {
      const body = String(messages[1].content);
      const previous = /^Previous summary:\n\[(.+?)\] (\d+) messages\n\n/.exec(body);
      const lines = body.slice(body.indexOf('New messages:\n') + 'New messages:\n'.length).split('\n');
      const id = previous?.[1] ?? dialogues.find((d) => `User: ${d.turns[0].utterance}` === lines[0])?.dialogueId ?? 'unknown';
      const text = `[${id}] ${Number(previous?.[2] ?? 0) + lines.length} messages`;
      this.summaries.push(text);
      return { text };
    }
    const summary = messages.find((m) => m.role === 'system' && String(m.content).startsWith(SUMMARY_PREFIX));
    const covered = summary ? /^\[(.+?)\] (\d+) messages$/.exec(String(summary.content).slice(SUMMARY_PREFIX.length)) : null;
    const users = messages.filter((m) => m.role === 'user');
    const dialogue = covered
      ? dialogues.find((d) => d.dialogueId === covered[1])
      : dialogues.find((d) => d.turns[0].utterance === users[0]?.content);
    if (!dialogue) return { status: 500 };
    const userTurn = Number(covered?.[2] ?? 0) / 2 + users.length - 1;
    this.answered.set(`${dialogue.dialogueId}#${userTurn}`, request);
    const reply = dialogue.turns[2 * userTurn + 1];
    return reply ? { text: reply.utterance } : { status: 500 };
  };
}

describe(`the same dialogues past a context budget of ${BUDGET} tokens`, () => {
  let t: TestCluster;
  const scripted = new SummarizingScript();
  const longest = [...dialogues].sort((a, b) => b.turns.length - a.turns.length).slice(0, 6);

  beforeAll(async () => {
    t = await startTestCluster({ label: 'sgdsum', script: scripted.script, env: { PARLEY_CONTEXT_BUDGET_TOKENS: String(BUDGET) } });
  });
  afterAll(() => t?.stop());

  it('gives every turn the rolling summary plus the recent turns in order, under budget, and records each summary', async () => {
    const replay = async (dialogue: Dialogue) => {
      const { sessionId } = (await t.post('/v1/sessions', {})).body;
      const transcript: { role: string; content: string }[] = [];
      const tokens: number[] = [];
      for (let i = 0; i < dialogue.turns.length; i += 2) {
        const user = dialogue.turns[i].utterance;
        const res = await t.post(`/v1/sessions/${sessionId}/turns`, { text: user });
        expect(res.status).toBe(200);
        expect(res.body.reply.text).toBe(dialogue.turns[i + 1].utterance);
        const request = scripted.answered.get(`${dialogue.dialogueId}#${i / 2}`)!;
        expect(request).toBeDefined();
        // [system prompt, summary of the first n messages?, the messages after them, this turn's]
        const summary = request.messages[1].role === 'system' ? String(request.messages[1].content) : null;
        const n = summary ? Number(/\] (\d+) messages$/.exec(summary)![1]) : 0;
        if (summary) expect(summary).toBe(`${SUMMARY_PREFIX}[${dialogue.dialogueId}] ${n} messages`);
        expect(request.messages.slice(summary ? 2 : 1)).toEqual([...transcript.slice(n), { role: 'user', content: user }]);
        tokens.push(contextTokens(request.messages.map((m) => ({ role: m.role as 'user', content: String(m.content) }))));
        transcript.push({ role: 'user', content: user }, { role: 'assistant', content: dialogue.turns[i + 1].utterance });
      }
      expect(Math.max(...tokens)).toBeLessThanOrEqual(BUDGET);

      // the log holds the summaries; the state is the last summary plus what came after it
      const events = (await t.get(`/v1/sessions/${sessionId}/events`)).body.events as { type: string; data: any }[];
      const summaries = events.filter((e) => e.type === 'ConversationSummarized');
      expect(summaries.length).toBeGreaterThan(0);
      const state = (await t.get(`/v1/sessions/${sessionId}`)).body;
      expect(state.summary).toEqual({
        text: summaries.at(-1)!.data.summary,
        throughVersion: summaries.at(-1)!.data.throughVersion,
        messages: state.summary.messages,
      });
      expect(state.messages.map((m: { role: string; text: string }) => ({ role: m.role, content: m.text }))).toEqual(
        transcript.slice(state.summary.messages),
      );
      expect(state.turnCount).toBe(dialogue.turns.length / 2);
      expect(state.usage.stateful.turns).toBe(dialogue.turns.length / 2);
      // the whole transcript is still there, read from the log
      const all = (await t.get(`/v1/sessions/${sessionId}/messages`)).body.messages as { role: string; text: string }[];
      expect(all.map((m) => ({ role: m.role, content: m.text }))).toEqual(transcript);
      return summaries.length;
    };
    const summaries = await Promise.all(longest.map(replay));
    expect(summaries.reduce((a, b) => a + b, 0)).toBe(scripted.summaries.length);
  });
});
