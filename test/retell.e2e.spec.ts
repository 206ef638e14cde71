/**
 * Retell AI's custom-LLM WebSocket, driven by a scripted client that follows Retell's documented
 * message shapes (the `ws` package, as Retell's server would connect), against the services as
 * separate processes: the config and begin message, call details, ping/pong, a response streamed
 * in pieces, a barge-in mid-answer (a newer `response_required` cancels the older answer and what
 * the caller heard is recorded), a reminder, a second call from the same number that resumes what
 * was remembered, and a wrong key, a missing call id and a bad frame refused with typed closes.
 */
import { derivedId } from '@parley/conversation';
import { connectDatabase, EventStore } from '@parley/event-store';
import { runCli, seatMemoryScript, startTestCluster, TEST_NATS_URL, type ChatRequest, type TestCluster } from '@parley/testing';
import WebSocket from 'ws';

jest.setTimeout(60_000);

const STORY = 'Once upon a time there was a dragon who guarded a mountain of gold and never slept at all';

/** What Retell receives: config, ping_pong and response frames. */
interface Frame {
  response_type: string;
  end_call?: boolean;
  transfer_number?: string;
  response_id?: number;
  content?: string;
  content_complete?: boolean;
  timestamp?: number;
  config?: Record<string, unknown>;
}

/** Retell's side of one call: connects, keeps what Parley sends, and sends Retell's events. */
class RetellClient {
  readonly frames: Frame[] = [];
  private waiters: (() => void)[] = [];
  closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async connect(url: string, headers: Record<string, string> = {}): Promise<RetellClient> {
    const socket = new WebSocket(url, { headers });
    const client = new RetellClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return client;
  }

  send(event: object): void {
    this.socket.send(JSON.stringify(event));
  }

  /** Waits (on frames, not time) until `done` holds for what has come. */
  async until(done: (frames: Frame[]) => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.frames)) {
      if (Date.now() > deadline) throw new Error(`timed out; frames: ${JSON.stringify(this.frames).slice(-800)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  /** The text of one response, and whether it was completed. */
  answer(responseId: number): { text: string; complete: boolean } {
    const pieces = this.frames.filter((f) => f.response_type === 'response' && f.response_id === responseId);
    return { text: pieces.map((f) => f.content).join(''), complete: pieces.some((f) => f.content_complete) };
  }

  close(): void {
    this.socket.close();
  }
}

describe("Retell's custom-LLM WebSocket", () => {
  let t: TestCluster;
  let base: string;
  let release: () => void = () => undefined;
  let hold: Promise<void> = Promise.resolve();
  const sessionOf = (callId: string) => derivedId(`default\u0000conversation\u0000retell:${callId}`, 'session');
  const eventsOf = async (callId: string) => {
    const database = await connectDatabase(t.db.url, { max: 1 });
    try {
      return await new EventStore(database.db).readStream(`session-${sessionOf(callId)}`);
    } finally {
      await database.close();
    }
  };
  const requestFor = (text: string): ChatRequest | undefined => t.llm.requests.find((r) => r.messages.at(-1)?.content === text);

  beforeAll(async () => {
    t = await startTestCluster({
      label: 'retell',
      script: (request, index) => {
        const last = String(request.messages.at(-1)?.content ?? '');
        // the story streams a word at a time and stops before its fourth word until the test lets it go on
        if (last === 'tell me a long story') return { text: STORY, beforePiece: (piece) => (piece === 3 ? hold : undefined) };
        const offered = (name: string) =>
          (request.tools as { function: { name: string } }[] | undefined)?.some((t) => t.function.name === name);
        if (last === 'that is all, goodbye' && offered('end_call'))
          return { text: 'Goodbye!', toolCalls: [{ name: 'end_call', arguments: {} }] };
        if (last === 'put me through to a person' && offered('transfer_call'))
          return { text: 'Transferring you now.', toolCalls: [{ name: 'transfer_call', arguments: {} }] };
        return seatMemoryScript(request, index);
      },
    });
    base = t.baseUrl.replace(/^http/, 'ws');
    const set = await runCli(['tenants', 'set', '--tenant', 'default', '--caller-users', 'on', '--transfer-number', '+14155550123'], {
      DATABASE_URL: t.db.url,
      NATS_URL: TEST_NATS_URL,
      PARLEY_NATS_PREFIX: t.prefix,
    });
    expect(set.code).toBe(0);
  });
  afterAll(async () => {
    release();
    await t?.stop();
  });

  it('configures the call, answers pings, and streams a response in pieces, completed once', async () => {
    const call = await RetellClient.connect(`${base}/v1/retell/${t.apiKey}/call_first`);
    await call.until((f) => f.length >= 2);
    expect(call.frames[0]).toEqual({ response_type: 'config', config: { auto_reconnect: true, call_details: true } });
    expect(call.frames[1]).toMatchObject({ response_type: 'response', response_id: 0, content: '', content_complete: true });
    call.send({
      interaction_type: 'call_details',
      call: { call_id: 'call_first', from_number: '+1 (415) 555-0101', to_number: '+14155550199', agent_id: 'agent_1' },
    });
    call.send({ interaction_type: 'ping_pong', timestamp: 1_732_000_000_123 });
    await call.until((f) => f.some((x) => x.response_type === 'ping_pong'));
    expect(call.frames.find((f) => f.response_type === 'ping_pong')).toEqual({ response_type: 'ping_pong', timestamp: 1_732_000_000_123 });

    call.send({ interaction_type: 'update_only', transcript: [{ role: 'user', content: 'Hi there' }], turntaking: 'user_turn' });
    call.send({
      interaction_type: 'response_required',
      response_id: 1,
      transcript: [{ role: 'user', content: 'Hi there, I prefer a window seat' }],
    });
    await call.until(() => call.answer(1).complete);
    expect(call.answer(1).text).toBe('Noted, I will keep that in mind.');
    expect(call.frames.filter((f) => f.response_id === 1 && f.content_complete)).toHaveLength(1);
    call.close();
    const events = await eventsOf('call_first');
    expect(events[0].data).toMatchObject({ userId: expect.stringMatching(/^caller-/) });
    expect(events.filter((e) => e.type === 'UserMessageReceived').map((e) => e.data)).toEqual([
      expect.objectContaining({ text: 'Hi there, I prefer a window seat' }),
    ]);
  });

  it('cancels an answer when a newer response is required, and records what the caller heard of it', async () => {
    hold = new Promise((resolve) => (release = resolve));
    const call = await RetellClient.connect(`${base}/v1/retell/call_bargein`, { authorization: `Bearer ${t.apiKey}` });
    await call.until((f) => f.length >= 2);
    const asked = [{ role: 'user', content: 'tell me a long story' }];
    call.send({ interaction_type: 'response_required', response_id: 1, transcript: asked });
    await call.until(() => call.answer(1).text.split(' ').length >= 3);
    const heard = call.answer(1).text.trim(); // what Retell spoke before the caller cut in
    expect(STORY.startsWith(heard)).toBe(true);
    const spoken = [...asked, { role: 'agent', content: heard }];
    call.send({ interaction_type: 'update_only', transcript: spoken, turntaking: 'user_turn' });
    call.send({
      interaction_type: 'response_required',
      response_id: 2,
      transcript: [...spoken, { role: 'user', content: 'stop, where is my booking?' }],
    });
    await call.until(() => call.answer(2).complete);
    release();
    const firstOfTwo = call.frames.findIndex((f) => f.response_id === 2);
    expect(call.frames.slice(firstOfTwo).some((f) => f.response_id === 1)).toBe(false); // nothing more of the older answer
    expect(call.answer(1).complete).toBe(false);
    expect(call.answer(2).text).toBe('answer to: stop, where is my booking?');
    // the next turn's model saw the story as far as the caller heard it
    const context = requestFor('stop, where is my booking?')!.messages.map((m) => [m.role, m.content]);
    expect(context.slice(-3)).toEqual([
      ['user', 'tell me a long story'],
      ['assistant', heard],
      ['user', 'stop, where is my booking?'],
    ]);
    const events = await eventsOf('call_bargein');
    expect(events.find((e) => e.type === 'ReplyInterrupted')?.data).toMatchObject({ spokenText: heard });

    // a reminder is a turn of the session too, the model told the caller is silent
    call.send({
      interaction_type: 'reminder_required',
      response_id: 3,
      transcript: [...spoken, { role: 'user', content: 'stop, where is my booking?' }],
    });
    await call.until(() => call.answer(3).complete);
    expect(call.answer(3).text).toBe('answer to: (The caller has not said anything for a while.)');
    call.close();
  });

  it('resumes what was remembered about a caller on their next call (from_number)', async () => {
    const call = await RetellClient.connect(`${base}/v1/retell/${t.apiKey}/call_second`);
    await call.until((f) => f.length >= 2);
    call.send({ interaction_type: 'call_details', call: { call_id: 'call_second', from_number: '+14155550101' } });
    call.send({ interaction_type: 'response_required', response_id: 1, transcript: [{ role: 'user', content: 'It is me again' }] });
    await call.until(() => call.answer(1).complete);
    call.close();
    const memory = requestFor('It is me again')!.messages.find(
      (m) => m.role === 'system' && String(m.content).startsWith('What you know about this user'),
    );
    expect(memory?.content).toContain('window seat');
  });

  it('ends the call or transfers it when the model calls for it, and tells the model when the call went on', async () => {
    const call = await RetellClient.connect(`${base}/v1/retell/${t.apiKey}/call_control`);
    await call.until((f) => f.length >= 2);
    const first = [{ role: 'user', content: 'put me through to a person' }];
    call.send({ interaction_type: 'response_required', response_id: 1, transcript: first });
    await call.until(() => call.answer(1).complete);
    expect(call.answer(1).text).toBe('Transferring you now.');
    expect(call.frames.find((f) => f.response_id === 1 && f.content_complete)).toMatchObject({
      transfer_number: '+14155550123',
      end_call: false,
    });
    // the transfer did not happen: the caller speaks again, and the model's conversation stays whole
    const second = [...first, { role: 'agent', content: 'Transferring you now.' }, { role: 'user', content: 'that is all, goodbye' }];
    call.send({ interaction_type: 'response_required', response_id: 2, transcript: second });
    await call.until(() => call.answer(2).complete);
    const context = requestFor('that is all, goodbye')!.messages;
    const tool = context.findIndex((m) => m.role === 'tool');
    expect(context[tool - 1]).toMatchObject({
      role: 'assistant',
      tool_calls: [expect.objectContaining({ function: expect.objectContaining({ name: 'transfer_call' }) })],
    });
    expect(context[tool]).toMatchObject({ content: 'The transfer did not go through: the caller is still on the line.' });
    expect(call.answer(2).text).toBe('Goodbye!');
    expect(call.frames.find((f) => f.response_id === 2 && f.content_complete)).toMatchObject({ end_call: true });
    expect(call.frames.find((f) => f.response_id === 2 && f.content_complete)).not.toHaveProperty('transfer_number');
    call.close();
  });

  it("refuses a wrong key, a missing call id and a frame that is not Retell's, with typed closes", async () => {
    const wrong = await RetellClient.connect(`${base}/v1/retell/pk_wrong/call_x`);
    expect(await wrong.closed).toEqual({ code: 1008, reason: 'AUTH.INVALID_KEY' });
    const missing = await RetellClient.connect(`${base}/v1/retell/call_y`);
    expect(await missing.closed).toEqual({ code: 1008, reason: 'AUTH.MISSING_KEY' });
    const nested = await RetellClient.connect(`${base}/v1/retell/${t.apiKey}/a/b`);
    expect((await nested.closed).code).toBe(1008);
    const bad = await RetellClient.connect(`${base}/v1/retell/${t.apiKey}/call_bad`);
    await bad.until((f) => f.length >= 2);
    bad.send({ interaction_type: 'response_required', response_id: 'one', transcript: 'nope' });
    const closed = await bad.closed;
    expect(closed.code).toBe(1007);
    expect(closed.reason).toMatch(/^REQUEST\.INVALID/);
    // an interaction Parley does not know is left alone
    const later = await RetellClient.connect(`${base}/v1/retell/${t.apiKey}/call_new_kind`);
    await later.until((f) => f.length >= 2);
    later.send({ interaction_type: 'some_future_event', payload: 1 });
    later.send({ interaction_type: 'ping_pong', timestamp: 7 });
    await later.until((f) => f.some((x) => x.response_type === 'ping_pong'));
    later.close();
    // other paths are not upgraded
    await expect(RetellClient.connect(`${base}/v1/elsewhere`)).rejects.toThrow(/404/);
  });

  it("counts each response against the key's rate limit, as the HTTP API does", async () => {
    // runs last: it leaves the tenant at 2 requests a minute
    const env = { DATABASE_URL: t.db.url, NATS_URL: TEST_NATS_URL, PARLEY_NATS_PREFIX: t.prefix };
    expect((await runCli(['tenants', 'set', '--tenant', 'default', '--rate-limit', '2'], env)).code).toBe(0);
    const call = await RetellClient.connect(`${base}/v1/retell/${t.apiKey}/call_limited`);
    await call.until((f) => f.length >= 2);
    const asked = t.llm.requests.length;
    for (const id of [1, 2, 3]) {
      call.send({ interaction_type: 'response_required', response_id: id, transcript: [{ role: 'user', content: `limited ${id}` }] });
      await call.until(() => call.answer(id).complete);
    }
    expect(call.answer(1).text).toBe('answer to: limited 1');
    expect(call.answer(2).text).toBe('answer to: limited 2');
    expect(call.answer(3)).toEqual({ text: '', complete: true }); // over the budget: not answered
    expect(t.llm.requests.length - asked).toBe(2);
    call.close();
  });
});
