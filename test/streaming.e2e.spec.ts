/**
 * Streaming through the services as processes: the reply's pieces reach the HTTP client as the
 * model generates them, and a client that disconnects stops the generation, which is recorded as
 * interrupted with the part that was generated. Barge-in, and a user who speaks again while the
 * agent is still answering, under both concurrent-turn policies.
 */
import { runCli, startTestCluster, waitFor, type TestCluster } from '@parley/testing';

jest.setTimeout(60_000);

const LONG =
  'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty';

/**
 * Reads Server-Sent Events as they arrive; `stopAfter` aborts the request once the pieces received
 * spell that text (a delta may carry several pieces: the responder sends what came together).
 */
async function readEvents(
  res: Response,
  stopAfter?: { text: string; abort: () => void },
  onEvent?: (event: { event: string; data: any }) => void,
) {
  const events: { event: string; data: any }[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
        const data = /^data: (.*)$/m.exec(block)?.[1];
        events.push({ event, data: data && data !== '[DONE]' ? JSON.parse(data) : data });
        onEvent?.(events.at(-1)!);
        if (stopAfter && spelled(events) === stopAfter.text) {
          stopAfter.abort();
          return events;
        }
      }
    }
  } catch (error) {
    if (!stopAfter) throw error;
  }
  return events;
}

/** The text the delta events received so far spell. */
const spelled = (events: { event: string; data: any }[]) =>
  events
    .filter((e) => e.event === 'delta')
    .map((e) => e.data.text)
    .join('');

/**
 * Holds the scripted model before a piece until the test lets it go — or, if nothing does, until a
 * long timeout, recording which it was. A piece that reaches the client while the model is held
 * there arrived as it was generated, not at the end; a turn cut while it is held was cut while
 * generating — whatever the machine's load, with no timing in the assertions.
 */
function modelGate(timeoutMs = 20_000) {
  let open!: () => void;
  let reach!: () => void;
  const opened = new Promise<'client'>((resolve) => (open = () => resolve('client')));
  const gate = {
    releasedBy: undefined as 'client' | 'timeout' | undefined,
    /** Resolves when the model reaches the gate (the pieces before it are written). */
    reached: new Promise<void>((resolve) => (reach = resolve)),
    open,
    wait: async () => {
      reach();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs).unref()));
      gate.releasedBy = await Promise.race([opened, timedOut]);
      clearTimeout(timer);
    },
  };
  return gate;
}

describe('streaming turns', () => {
  let t: TestCluster;
  /** The model stops after three pieces of a long reply until the test opens this. */
  let gate = modelGate();
  const HELD_AT = 3;

  beforeAll(async () => {
    t = await startTestCluster({
      label: 'streaming',
      script: (request) => {
        const last = String(request.messages.at(-1)?.content ?? '');
        const held = (i: number) => (i === HELD_AT ? gate.wait() : undefined);
        if (last.startsWith('count slowly')) return { text: LONG, chunkDelayMs: 5, beforePiece: held };
        if (last.startsWith('hello there')) return { text: `You said: ${last}`, beforePiece: held };
        return { text: `You said: ${last}`, chunkDelayMs: 15 };
      },
    });
  });
  beforeEach(() => (gate = modelGate()));
  afterAll(() => t?.stop());

  const streamTurn = (path: string, body: unknown, signal?: AbortSignal) =>
    fetch(`${t.baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${t.apiKey}` },
      body: JSON.stringify(body),
      signal,
    });

  it('sends the reply as it is generated, piece by piece, then the whole result', async () => {
    const { sessionId } = (await t.post('/v1/sessions', {})).body;
    const res = await streamTurn(`/v1/sessions/${sessionId}/turns`, { text: 'hello there, streaming world' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    // the model stops after three pieces until this client has seen one
    const events = await readEvents(res, undefined, (e) => e.event === 'delta' && gate.open());
    const deltas = events.filter((e) => e.event === 'delta');
    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    expect(deltas.length).toBeGreaterThanOrEqual(2); // at least the pieces before the model was held, and those after
    expect(deltas[0].data.route).toEqual({ mode: 'stateful', reason: 'session-default-stateful' });
    expect(deltas.map((d) => d.data.seq)).toEqual(deltas.map((_, i) => i));
    expect(deltas.map((d) => d.data.text).join('')).toBe('You said: hello there, streaming world');
    expect(done.data).toMatchObject({ sessionId, reply: { text: 'You said: hello there, streaming world' }, route: { mode: 'stateful' } });
    // the first pieces reached the client while the model was still generating, not at the end
    expect(gate.releasedBy).toBe('client');

    const events2 = (await t.get(`/v1/sessions/${sessionId}/events`)).body.events;
    expect(events2.at(-1)).toMatchObject({
      type: 'AssistantReplied',
      data: { text: 'You said: hello there, streaming world', interrupted: null },
    });
  });

  it('streams stateless turns too, and answers JSON to clients that did not ask for a stream', async () => {
    const events = await readEvents(await streamTurn('/v1/turns', { text: 'just once' }));
    expect(events.filter((e) => e.event === 'delta').length).toBeGreaterThan(1);
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { sessionId: null, reply: { text: 'You said: just once' } } });
    const plain = await t.post('/v1/turns', { text: 'just once' });
    expect(plain.body.reply.text).toBe('You said: just once');
  });

  it('keeps errors before the first piece as plain JSON with their status', async () => {
    const res = await streamTurn('/v1/sessions/3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01/turns', { text: 'hi' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.code).toBe('SESSION.NOT_FOUND');
  });

  it('stops the generation when the client disconnects, and records the part generated as interrupted', async () => {
    const { sessionId } = (await t.post('/v1/sessions', {})).body;
    const abort = new AbortController();
    const res = await streamTurn(`/v1/sessions/${sessionId}/turns`, { text: 'count slowly to thirty' }, abort.signal);
    const received = await readEvents(res, { text: 'one two three ', abort: () => abort.abort() });
    expect(received.every((e) => e.event === 'delta')).toBe(true);

    const replied = await waitFor(
      async () => {
        const events = (await t.get(`/v1/sessions/${sessionId}/events`)).body.events as { type: string; data: any }[];
        return events.find((e) => e.type === 'AssistantReplied');
      },
      { what: 'the interrupted reply to be recorded', timeoutMs: 10_000 },
    );
    expect(replied.data.interrupted).toBe('client-disconnected');
    expect(replied.data.text.length).toBeGreaterThan(0);
    expect(LONG.startsWith(replied.data.text)).toBe(true);
    expect(replied.data.text).toBe('one two three '); // the model was held after three pieces: it stopped there
    expect(gate.releasedBy).toBeUndefined();

    // the next turn sees what was generated, no more
    await t.post(`/v1/sessions/${sessionId}/turns`, { text: 'why did you stop?' });
    const next = t.llm.requests.find((r) => r.messages.at(-1)?.content === 'why did you stop?')!;
    expect(next.messages.map((m) => m.content)).toEqual([
      expect.any(String),
      'count slowly to thirty',
      replied.data.text,
      'why did you stop?',
    ]);
  });

  describe('barge-in and overlapping turns', () => {
    const contextOf = (text: string) =>
      t.llm.requests
        .filter((r) => r.messages.at(-1)?.content === text)
        .at(-1)!
        .messages.map((m) => m.content);
    const eventsOf = async (sessionId: string, call = t.call) =>
      (await call('GET', `/v1/sessions/${sessionId}/events`)).body.events as { type: string; data: any }[];

    it('records what the user heard when they barged in, and later turns see only that', async () => {
      const { sessionId } = (await t.post('/v1/sessions', {})).body;
      const first = await t.post(`/v1/sessions/${sessionId}/turns`, { text: 'tell me about my card' });
      expect(first.body.reply.text).toBe('You said: tell me about my card');
      const cut = await t.post(`/v1/sessions/${sessionId}/turns/${first.body.turnId}/interrupt`, { spokenText: 'You said' });
      expect(cut).toEqual({ status: 200, body: { sessionId, turnId: first.body.turnId, spokenText: 'You said', interrupted: true } });
      // once per turn: a repeat returns what was recorded first
      expect(
        (await t.post(`/v1/sessions/${sessionId}/turns/${first.body.turnId}/interrupt`, { spokenText: 'other' })).body.spokenText,
      ).toBe('You said');

      await t.post(`/v1/sessions/${sessionId}/turns`, { text: 'sorry, go on' });
      expect(contextOf('sorry, go on')).toEqual([expect.any(String), 'tell me about my card', 'You said', 'sorry, go on']);
      expect((await t.get(`/v1/sessions/${sessionId}`)).body.turns[0]).toMatchObject({ interrupted: 'barge-in', heard: 'You said' });
      const replay = await runCli(['replay', sessionId], { DATABASE_URL: t.db.url });
      expect(replay.stdout).toContain('the user barged in after hearing: "You said"');

      expect(
        (await t.post(`/v1/sessions/${sessionId}/turns/3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01/interrupt`, { spokenText: '' })).body.error
          .code,
      ).toBe('TURN.NOT_FOUND');
      expect((await t.post(`/v1/sessions/${sessionId}/turns/${first.body.turnId}/interrupt`, { spoken: 'x' })).status).toBe(400);
    });

    it('stops a reply still being generated when the user barges in', async () => {
      const { sessionId } = (await t.post('/v1/sessions', {})).body;
      const res = await streamTurn(`/v1/sessions/${sessionId}/turns`, { text: 'count slowly, please' });
      let heard!: () => void;
      const threeWords = new Promise<void>((resolve) => (heard = resolve));
      const seen: { event: string; data: any }[] = [];
      const reader = readEvents(res, undefined, (e) => {
        seen.push(e);
        if (spelled(seen) === 'one two three ') heard();
      });
      await threeWords; // three words in (the client has them), and the model held there
      const turnId = (await eventsOf(sessionId)).find((e) => e.type === 'UserMessageReceived')!.data.turnId as string;
      expect((await t.post(`/v1/sessions/${sessionId}/turns/${turnId}/interrupt`, { spokenText: 'one two' })).status).toBe(200);
      const events = await reader;
      expect(events.at(-1)).toMatchObject({ event: 'done', data: { reply: { interrupted: 'barge-in' } } });
      const replied = (await eventsOf(sessionId)).find((e) => e.type === 'AssistantReplied')!;
      expect(replied.data.interrupted).toBe('barge-in');
      expect(replied.data.text).toBe('one two three ');
      expect(gate.releasedBy).toBeUndefined();
      const state = (await t.get(`/v1/sessions/${sessionId}`)).body;
      expect(state.messages.map((m: { text: string }) => m.text)).toEqual(['count slowly, please', 'one two']);
    });

    it('queues a turn sent while the previous one is answered: it is answered after, seeing the whole reply', async () => {
      const { sessionId } = (await t.post('/v1/sessions', {})).body;
      const first = t.post(`/v1/sessions/${sessionId}/turns`, { text: 'count slowly to forty' });
      await gate.reached;
      // the second turn arrives while the first is still being generated
      const secondSent = t.post(`/v1/sessions/${sessionId}/turns`, { text: 'and then what?' });
      await waitFor(async () => (await eventsOf(sessionId)).some((e) => e.data.text === 'and then what?'), {
        what: 'the second message to be recorded',
      });
      gate.open();
      const second = await secondSent;
      expect((await first).body.reply).toEqual({ text: LONG });
      expect(gate.releasedBy).toBe('client');
      expect(second.status).toBe(200);
      expect(contextOf('and then what?')).toEqual([expect.any(String), 'count slowly to forty', LONG, 'and then what?']);
      const order = (await eventsOf(sessionId)).map((e) => `${e.type}:${e.data.text ?? ''}`.replace(LONG, 'LONG'));
      expect(order).toEqual([
        'SessionStarted:',
        'UserMessageReceived:count slowly to forty',
        'TurnRouted:',
        'UserMessageReceived:and then what?',
        'TurnRouted:',
        'AssistantReplied:LONG',
        'AssistantReplied:You said: and then what?',
      ]);
    });

    it("interrupts the running reply when the user speaks again, under the tenant's interrupt policy", async () => {
      const env = { DATABASE_URL: t.db.url };
      expect((await runCli(['tenants', 'set', '--tenant', 'impatient', '--concurrent-turns', 'interrupt'], env)).code).toBe(0);
      const key = JSON.parse((await runCli(['keys', 'create', '--tenant', 'impatient', '--json'], env)).stdout).key as string;
      const call = (method: string, path: string, body?: unknown) => t.call(method, path, body, { authorization: `Bearer ${key}` });
      const { sessionId } = (await call('POST', '/v1/sessions', {})).body;
      const first = call('POST', `/v1/sessions/${sessionId}/turns`, { text: 'count slowly up to twenty' });
      await gate.reached; // three words in, and the model still generating
      const second = await call('POST', `/v1/sessions/${sessionId}/turns`, { text: 'stop, wait' });
      const cut = (await first).body;
      expect(cut.reply.interrupted).toBe('next-turn');
      expect(cut.reply.text.length).toBeGreaterThan(0);
      expect('one two three '.startsWith(cut.reply.text)).toBe(true); // cut while held: no further than the gate
      expect(gate.releasedBy).toBeUndefined();
      expect(second.body.reply.text).toBe('You said: stop, wait');
      expect(contextOf('stop, wait')).toEqual([expect.any(String), 'count slowly up to twenty', cut.reply.text, 'stop, wait']);
      // a definite order in the log: the second message, then the first reply cut short, then the second reply
      const log = (await eventsOf(sessionId, call)).map((e) => `${e.type}:${e.data.interrupted ?? e.data.text ?? ''}`);
      const at = (entry: string) => log.indexOf(entry);
      expect(at('UserMessageReceived:stop, wait')).toBeLessThan(at('AssistantReplied:next-turn'));
      expect(at('AssistantReplied:next-turn')).toBeLessThan(
        log.findIndex((e) => e.startsWith('AssistantReplied:') && e !== 'AssistantReplied:next-turn'),
      );
      expect(log.filter((e) => e.startsWith('AssistantReplied'))).toHaveLength(2);
    });
  });
});
