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
 * messages a summary stands for. An answer request is matched to its dialogue and user turn by
 * the user messages it holds — the summary names the dialogue when there is one — and gets the
 * recorded reply; every answer request is kept with the turn it answers. Summaries are written in
 * the background after a reply, so a turn may come before the summary it made due: its context is
 * then the summary that exists plus the recent messages that fit, the older ones left out (and
 * recorded as dropped), and the match must not count on them. To have that happen in every
 * run, not only under load, the test holds each summary until two more turns have been answered.
 */
class SummarizingScript {
  readonly answered = new Map<string, ChatRequest>(); // `${dialogueId}#${userTurn}` → request
  readonly summaries: string[] = [];
  /** Summaries held, by dialogue; a finished dialogue's are answered at once. */
  private readonly held = new Map<string, (() => void)[]>();
  private readonly finished = new Set<string>();

  /** The answers of the dialogue's summaries held so far, for the test to give when it chooses. */
  take(dialogueId: string): (() => void)[] {
    const answers = this.held.get(dialogueId) ?? [];
    this.held.delete(dialogueId);
    return answers;
  }

  /** Answers the dialogue's held summaries, and every later one at once. */
  finish(dialogueId: string): void {
    this.finished.add(dialogueId);
    for (const answer of this.take(dialogueId)) answer();
  }

  readonly script = (request: ChatRequest): ScriptedReply | Promise<ScriptedReply> => {
    const messages = request.messages;
    if (messages[0].content === SUMMARY_INSTRUCTIONS) {
      const body = String(messages[1].content);
      const previous = /^Previous summary:\n\[(.+?)\] (\d+) messages\n\n/.exec(body);
      const lines = body.slice(body.indexOf('New messages:\n') + 'New messages:\n'.length).split('\n');
      const id = previous?.[1] ?? dialogues.find((d) => `User: ${d.turns[0].utterance}` === lines[0])?.dialogueId ?? 'unknown';
      const text = `[${id}] ${Number(previous?.[2] ?? 0) + lines.length} messages`;
      this.summaries.push(text);
      if (this.finished.has(id)) return { text };
      return new Promise<ScriptedReply>((resolve) => this.held.set(id, [...(this.held.get(id) ?? []), () => resolve({ text })]));
    }
    const summary = messages.find((m) => m.role === 'system' && String(m.content).startsWith(SUMMARY_PREFIX));
    const covered = summary ? /^\[(.+?)\] (\d+) messages$/.exec(String(summary.content).slice(SUMMARY_PREFIX.length)) : null;
    const users = messages.filter((m) => m.role === 'user').map((m) => String(m.content));
    // the dialogues and user turns whose user lines end with the ones given, in order
    const matches = dialogues
      .filter((d) => !covered || d.dialogueId === covered[1])
      .flatMap((d) => {
        const said = d.turns.filter((_, i) => i % 2 === 0).map((turn) => turn.utterance);
        const ends: { dialogue: Dialogue; userTurn: number }[] = [];
        for (let end = users.length - 1; end < said.length; end++)
          if (users.every((u, j) => said[end - users.length + 1 + j] === u)) ends.push({ dialogue: d, userTurn: end });
        return ends;
      });
    if (matches.length !== 1) return { status: 500 };
    const { dialogue, userTurn } = matches[0];
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

  it('gives every turn the rolling summary plus the recent turns in order, under budget, and records each summary and what was left out', async () => {
    const replay = async (dialogue: Dialogue) => {
      const { sessionId } = (await t.post('/v1/sessions', {})).body;
      const transcript: { role: string; content: string }[] = [];
      const tokens: number[] = [];
      const droppedBy = new Map<string, number>();
      const held: (() => void)[][] = []; // the summaries asked for before each turn, answered two turns later
      for (let i = 0; i < dialogue.turns.length; i += 2) {
        const user = dialogue.turns[i].utterance;
        held.push(scripted.take(dialogue.dialogueId));
        const res = await t.post(`/v1/sessions/${sessionId}/turns`, { text: user });
        expect(res.status).toBe(200);
        expect(res.body.reply.text).toBe(dialogue.turns[i + 1].utterance);
        const request = scripted.answered.get(`${dialogue.dialogueId}#${i / 2}`)!;
        expect(request).toBeDefined();
        // [system prompt, summary of the first n messages?, the recent messages after them, this turn's]
        const summary = request.messages[1].role === 'system' ? String(request.messages[1].content) : null;
        const n = summary ? Number(/\] (\d+) messages$/.exec(summary)![1]) : 0;
        if (summary) expect(summary).toBe(`${SUMMARY_PREFIX}[${dialogue.dialogueId}] ${n} messages`);
        const recent = request.messages.slice(summary ? 2 : 1, -1);
        // the most recent messages, in order, none of them also in the summary; any between the
        // two were left out to fit the budget, and the reply records how many
        const from = transcript.length - recent.length;
        expect(from).toBeGreaterThanOrEqual(n);
        expect(recent).toEqual(transcript.slice(from));
        expect(request.messages.at(-1)).toEqual({ role: 'user', content: user });
        droppedBy.set(res.body.turnId, from - n);
        if (held.length === 2) for (const answer of held.shift()!) answer();
        tokens.push(contextTokens(request.messages.map((m) => ({ role: m.role as 'user', content: String(m.content) }))));
        transcript.push({ role: 'user', content: user }, { role: 'assistant', content: dialogue.turns[i + 1].utterance });
      }
      expect(Math.max(...tokens)).toBeLessThanOrEqual(BUDGET);
      for (const answer of held.flat()) answer();
      scripted.finish(dialogue.dialogueId);

      // the log holds the summaries; the state is the last summary plus what came after it. One
      // that the last reply made due is still being written: wait until the log has every
      // summary the model wrote for this dialogue, twice in a row
      const asked = () => scripted.summaries.filter((text) => text.startsWith(`[${dialogue.dialogueId}] `)).length;
      let events: { type: string; data: any }[] = [];
      for (let settled = 0, tries = 0; settled < 2 && tries < 100; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        events = (await t.get(`/v1/sessions/${sessionId}/events`)).body.events;
        settled = events.filter((e) => e.type === 'ConversationSummarized').length === asked() ? settled + 1 : 0;
      }
      const summaries = events.filter((e) => e.type === 'ConversationSummarized');
      expect(summaries.length).toBeGreaterThan(0);
      const replies = events.filter((e) => e.type === 'AssistantReplied');
      expect(new Map(replies.map((e) => [e.data.turnId, e.data.droppedMessages ?? 0]))).toEqual(droppedBy);
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
      return { summaries: summaries.length, dropped: [...droppedBy.values()].reduce((a, b) => a + b, 0) };
    };
    const results = await Promise.all(longest.map(replay));
    expect(results.reduce((a, r) => a + r.summaries, 0)).toBe(scripted.summaries.length);
    // summaries lagged behind: some contexts were the summary that existed plus what fit
    expect(results.reduce((a, r) => a + r.dropped, 0)).toBeGreaterThan(0);
  });
});
