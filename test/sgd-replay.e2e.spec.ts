/**
 * Real multi-turn conversations through the stateful path: 24 Schema-Guided Dialogue dialogues,
 * the scripted model answering each user turn with the assistant turn recorded in the dataset.
 * Every turn's LLM input must hold the prior turns in order, and the final state the whole dialogue.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestCluster, type ChatRequest, type TestCluster } from '@parley/testing';

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
        const request = t.llm.requests.find((r) => r.messages.at(-1)?.content === user && r.messages[1]?.content === dialogue.turns[0].utterance && r.messages.length === transcript.length + 2);
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
