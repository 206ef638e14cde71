/**
 * The OpenAI-compatible API through the official `openai` npm client, unmodified, pointed at
 * ingress: stateless and stateful chat completions, streamed and not, usage chunks, tools passed
 * through, a Vapi-style client resending the whole history, OpenAI's error shapes, the Responses
 * API with `previous_response_id` kept in the log (continued, branched, streamed, not stored), the
 * client's sampling and output parameters passed on to the model and recorded with the turn, the
 * models a request may name, and tenant isolation on all of it.
 */
import OpenAI from 'openai';
import { connectDatabase, EventStore } from '@parley/event-store';
import { runCli, startTestCluster, type ChatRequest, type ScriptedReply, type TestCluster } from '@parley/testing';

jest.setTimeout(60_000);

/**
 * The model: calls `get_weather` when offered it, reports tool results, otherwise echoes — at a
 * model's pace when the request streams (a piece every 30 ms: longer than the responder gathers
 * pieces for, so each reaches the client as one chunk).
 */
function model(request: ChatRequest): ScriptedReply {
  const last = request.messages.at(-1)!;
  const offersWeather = (request.tools as { function: { name: string } }[] | undefined)?.some((t) => t.function.name === 'get_weather');
  if (offersWeather && last.role === 'tool') return { text: `The weather: ${last.content}` };
  if (offersWeather) return { toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] };
  return { text: `echo: ${last.content} (${request.messages.length} messages)`, ...(request.stream ? { chunkDelayMs: 30 } : {}) };
}

describe('OpenAI-compatible API with the official client', () => {
  let t: TestCluster;
  let client: OpenAI;
  const llmSaw = (text: string) => t.llm.requests.filter((r) => r.messages.at(-1)?.content === text);

  beforeAll(async () => {
    t = await startTestCluster({ label: 'openai', script: model, env: { PARLEY_MODELS: 'gpt-4.1, other-model' } });
    client = new OpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: t.apiKey, maxRetries: 0 });
  });
  afterAll(() => t?.stop());

  const eventsOf = async (streamId: string) => {
    const database = await connectDatabase(t.db.url, { max: 1 });
    try {
      return await new EventStore(database.db).readStream(streamId);
    } finally {
      await database.close();
    }
  };

  it("answers a stateless completion with the client's messages as the context, and records the turn", async () => {
    const { data, response } = await client.chat.completions
      .create({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'system', content: 'Be terse.' },
          { role: 'user', content: 'hello parley' },
        ],
      })
      .withResponse();
    expect(data).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: 'echo: hello parley (2 messages)' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number), total_tokens: expect.any(Number) },
    });
    expect(data.id).toMatch(/^chatcmpl-/);
    expect(llmSaw('hello parley')[0].messages).toEqual([
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: 'hello parley' },
    ]);
    const turnId = response.headers.get('x-parley-turn-id')!;
    expect(response.headers.get('x-parley-route')).toBe('stateless; reason=no-session');
    const events = await eventsOf(`turn-${turnId}`);
    expect(events.map((e) => e.type)).toEqual(['UserMessageReceived', 'TurnRouted', 'AssistantReplied']);
    expect(events[0].data).toMatchObject({ text: 'hello parley', context: [{ role: 'system', content: 'Be terse.' }] });
  });

  it('streams chunks with one id and created, a finish reason, the usage chunk and [DONE]', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'stream me a few words please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(new Set(chunks.map((c) => c.created)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('echo: stream me a few words please (1 messages)');
    expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBeGreaterThan(3);
    expect(chunks.at(-2)!.choices[0].finish_reason).toBe('stop');
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) },
    });
  });

  it('keeps the conversation for a client that sends only its newest message (X-Parley-Session)', async () => {
    const headers = { 'X-Parley-Session': 'my-app-conversation-42' };
    const say = (content: string, stream = false) =>
      stream
        ? client.chat.completions.create({ model: 'parley', messages: [{ role: 'user', content }], stream: true }, { headers })
        : client.chat.completions.create({ model: 'parley', messages: [{ role: 'user', content }] }, { headers });
    await say('my name is Ada');
    const chunks = [];
    for await (const chunk of (await say('I live in Lisbon', true)) as AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>)
      chunks.push(chunk);
    const third = (await say('what do you know about me?')) as OpenAI.Chat.Completions.ChatCompletion;
    expect(third.choices[0].message.content).toBe('echo: what do you know about me? (6 messages)');
    expect(llmSaw('what do you know about me?')[0].messages.map((m) => m.content)).toEqual([
      expect.any(String),
      'my name is Ada',
      'echo: my name is Ada (2 messages)',
      'I live in Lisbon',
      'echo: I live in Lisbon (4 messages)',
      'what do you know about me?',
    ]);
  });

  it('keeps one live session per `user`', async () => {
    const first = await client.chat.completions
      .create({ model: 'parley', user: 'grace', messages: [{ role: 'user', content: 'remember I like tea' }] })
      .withResponse();
    const second = await client.chat.completions
      .create({ model: 'parley', user: 'grace', messages: [{ role: 'user', content: 'what do I like?' }] })
      .withResponse();
    expect(second.response.headers.get('x-parley-session-id')).toBe(first.response.headers.get('x-parley-session-id'));
    expect(second.data.choices[0].message.content).toBe('echo: what do I like? (4 messages)');
    expect((await t.get(`/v1/sessions/${first.response.headers.get('x-parley-session-id')}`)).body.userId).toBe('grace');
  });

  it('reconciles a Vapi-style client that resends the whole history with call.id: each message is in the log once', async () => {
    const call = { id: `call-${Date.now()}` };
    const system = { role: 'system' as const, content: 'You are a booking agent.' };
    const history: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [system];
    const ask = async (content: string) => {
      history.push({ role: 'user', content });
      const params = { model: 'parley', messages: [...history], call };
      const { data, response } = await client.chat.completions
        .create(params as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming)
        .withResponse();
      history.push({ role: 'assistant', content: data.choices[0].message.content });
      return { data, sessionId: response.headers.get('x-parley-session-id')! };
    };
    await ask('a table for two');
    await ask('tomorrow at eight');
    // the SDK (or the platform) retries the last request: the same turn, not a second one
    const retry = await client.chat.completions.create({
      model: 'parley',
      messages: history.slice(0, -1),
      call,
    } as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming);
    const { data, sessionId } = await ask('under the name Lovelace');
    expect(retry.choices[0].message.content).toBe('echo: tomorrow at eight (4 messages)');
    expect(data.choices[0].message.content).toBe('echo: under the name Lovelace (6 messages)');
    expect(llmSaw('under the name Lovelace')[0].messages).toEqual([
      system,
      { role: 'user', content: 'a table for two' },
      { role: 'assistant', content: 'echo: a table for two (2 messages)' },
      { role: 'user', content: 'tomorrow at eight' },
      { role: 'assistant', content: 'echo: tomorrow at eight (4 messages)' },
      { role: 'user', content: 'under the name Lovelace' },
    ]);
    const said = (await eventsOf(`session-${sessionId}`))
      .filter((e) => e.type === 'UserMessageReceived')
      .map((e) => (e.data as { text: string }).text);
    expect(said).toEqual(['a table for two', 'tomorrow at eight', 'under the name Lovelace']);

    // the user barged in: the platform resends the last reply as far as it was spoken
    history[history.length - 1] = { role: 'assistant', content: 'echo: under the' };
    await ask('sorry, Ada Lovelace');
    const events = await eventsOf(`session-${sessionId}`);
    expect(events.find((e) => e.type === 'ReplyInterrupted')?.data).toMatchObject({ spokenText: 'echo: under the' });
    expect(llmSaw('sorry, Ada Lovelace')[0].messages.at(-2)).toEqual({ role: 'assistant', content: 'echo: under the' });
  });

  it('takes in what a new conversation brings, like the greeting a voice platform spoke first', async () => {
    const call = { id: `call-greeting-${Date.now()}` };
    const history: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'You are Sakura.' },
      { role: 'assistant', content: 'Hi, Sakura here, how can I help?' },
      { role: 'user', content: 'a table for four' },
    ];
    const first = await client.chat.completions.create({
      model: 'parley',
      messages: [...history],
      call,
    } as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming);
    expect(first.choices[0].message.content).toBe('echo: a table for four (3 messages)');
    history.push({ role: 'assistant', content: first.choices[0].message.content }, { role: 'user', content: 'at seven tonight' });
    await client.chat.completions.create({
      model: 'parley',
      messages: [...history],
      call,
    } as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming);
    expect(llmSaw('at seven tonight')[0].messages.map((m) => m.content)).toEqual(history.map((m) => m.content));
  });

  it("passes the client's tools to the model and its calls back, then the results in", async () => {
    const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Weather in a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      },
    ];
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: 'user', content: 'weather in Paris?' }];
    const first = await client.chat.completions.create({ model: 'parley', messages, tools });
    expect(first.choices[0].finish_reason).toBe('tool_calls');
    const call = first.choices[0].message.tool_calls![0] as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
    expect(call.function).toEqual({ name: 'get_weather', arguments: JSON.stringify({ city: 'Paris' }) });
    expect(llmSaw('weather in Paris?')[0].tools).toEqual([
      expect.objectContaining({ type: 'function', function: expect.objectContaining({ name: 'get_weather' }) }),
    ]);

    messages.push(first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: 'sunny, 21°C' });
    const second = await client.chat.completions.create({ model: 'parley', messages, tools });
    expect(second.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: 'The weather: sunny, 21°C' } });
  });

  it('runs tool round trips inside a kept conversation, and later turns see them', async () => {
    const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
      { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
    ];
    const headers = { 'X-Parley-Session': 'weather-chat-1' };
    const first = await client.chat.completions.create(
      { model: 'parley', messages: [{ role: 'user', content: 'weather in Paris, please?' }], tools },
      { headers },
    );
    expect(first.choices[0].finish_reason).toBe('tool_calls');
    const call = first.choices[0].message.tool_calls![0];
    // the client sends only the tool's result: Parley has the rest
    const second = await client.chat.completions.create(
      { model: 'parley', messages: [{ role: 'tool', tool_call_id: call.id, content: 'rainy, 12°C' }], tools },
      { headers },
    );
    expect(second.choices[0].message.content).toBe('The weather: rainy, 12°C');
    const sawResult = t.llm.requests.find((r) => r.messages.at(-1)?.content === 'rainy, 12°C')!;
    expect(sawResult.messages.slice(1).map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect((sawResult.messages[2].tool_calls as { id: string }[])[0].id).toBe(call.id);
    await client.chat.completions.create(
      { model: 'parley', messages: [{ role: 'user', content: 'and what about tomorrow?' }] },
      { headers },
    );
    expect(
      llmSaw('and what about tomorrow?')[0]
        .messages.slice(1)
        .map((m) => m.role),
    ).toEqual(['user', 'assistant', 'tool', 'assistant', 'user']);

    // a Vapi-style client resends everything, tool call and result included, with its call.id
    const vapi = { id: `call-tools-${Date.now()}` };
    const history: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'You are a weather line.' },
      { role: 'user', content: 'weather in Rome?' },
    ];
    const asked = await client.chat.completions.create({
      model: 'parley',
      messages: [...history],
      tools,
      call: vapi,
    } as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming);
    const romeCall = asked.choices[0].message.tool_calls![0];
    history.push(asked.choices[0].message, { role: 'tool', tool_call_id: romeCall.id, content: 'sunny, 24°C' });
    const { data, response } = await client.chat.completions
      .create({
        model: 'parley',
        messages: [...history],
        tools,
        call: vapi,
      } as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming)
      .withResponse();
    expect(data.choices[0].message.content).toBe('The weather: sunny, 24°C');
    const events = await eventsOf(`session-${response.headers.get('x-parley-session-id')}`);
    expect(events.filter((e) => e.type === 'UserMessageReceived').map((e) => (e.data as { text: string }).text)).toEqual([
      'weather in Rome?',
      '',
    ]);
    const sawRome = t.llm.requests.find((r) => r.messages.at(-1)?.content === 'sunny, 24°C')!;
    expect(sawRome.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool']);

    // `parley rerun` decides and rebuilds exactly as the services did, the tool results' turn included
    const rerun = await runCli(['rerun', response.headers.get('x-parley-session-id')!], { DATABASE_URL: t.db.url });
    expect(rerun.stdout).toContain('stateful via llm (tool-results)');
    expect([rerun.code, rerun.stdout]).toEqual([0, expect.stringContaining('All 2 turns route and build their contexts as recorded')]);
  });

  it("answers errors in OpenAI's shape, which the client turns into its typed errors", async () => {
    const anonymous = new OpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: 'pk_wrong', maxRetries: 0 });
    await expect(anonymous.chat.completions.create({ model: 'parley', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject(
      {
        status: 401,
        code: 'invalid_api_key',
        type: 'invalid_request_error',
      },
    );
    const bad = await client.chat.completions.create({ model: 'parley', messages: [] }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad).toMatchObject({ status: 400, type: 'invalid_request_error' });
    const res = await t.post('/v1/chat/completions', {
      messages: [{ role: 'user', content: 'hi' }],
      whatever: { unknown: true },
      temperature: 0.2,
    });
    expect(res.status).toBe(200); // unknown fields are ignored
    const keyed = await t.post('/v1/chat/completions', { messages: [{ role: 'assistant', content: 'hi' }] }, { 'x-parley-session': 'k' });
    expect(keyed.status).toBe(400);
    expect(keyed.body.error).toMatchObject({ type: 'invalid_request_error', param: 'messages' });
  });

  describe('the Responses API', () => {
    const contentsFor = (text: string) => llmSaw(text)[0].messages.map((m) => m.content);

    it('continues a conversation over three responses with previous_response_id, streamed or not', async () => {
      const first = await client.responses.create({ model: 'gpt-4o-mini', instructions: 'You are Parley.', input: 'call me Ada' });
      expect(first).toMatchObject({
        object: 'response',
        status: 'completed',
        previous_response_id: null,
        store: true,
        model: 'gpt-4o-mini',
      });
      expect(first.id).toMatch(/^resp_[0-9a-f]{64}$/);
      expect(first.output_text).toBe('echo: call me Ada (2 messages)');
      expect(first.usage).toMatchObject({
        input_tokens: expect.any(Number),
        output_tokens: expect.any(Number),
        total_tokens: expect.any(Number),
      });

      const second = await client.responses.create({
        model: 'gpt-4o-mini',
        input: [{ role: 'user', content: 'I am in Porto' }],
        previous_response_id: first.id,
      });
      expect(second.previous_response_id).toBe(first.id);

      const stream = await client.responses.create({
        model: 'gpt-4o-mini',
        input: 'what have I told you?',
        previous_response_id: second.id,
        stream: true,
      });
      const events: OpenAI.Responses.ResponseStreamEvent[] = [];
      for await (const event of stream) events.push(event);
      expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
      expect(events[0].type).toBe('response.created');
      expect(events.at(-1)!.type).toBe('response.completed');
      const deltas = events.filter((e): e is OpenAI.Responses.ResponseTextDeltaEvent => e.type === 'response.output_text.delta');
      expect(deltas.length).toBeGreaterThan(3);
      expect(deltas.map((d) => d.delta).join('')).toBe('echo: what have I told you? (6 messages)');
      expect(events.map((e) => e.type)).toEqual(
        expect.arrayContaining([
          'response.output_item.added',
          'response.content_part.added',
          'response.output_text.done',
          'response.content_part.done',
          'response.output_item.done',
        ]),
      );
      const completed = (events.at(-1) as OpenAI.Responses.ResponseCompletedEvent).response;
      expect(completed.output[0]).toMatchObject({
        type: 'message',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'echo: what have I told you? (6 messages)' }],
      });
      // instructions apply to the response that sets them, as with OpenAI; the history is the log's
      expect(contentsFor('what have I told you?')).toEqual([
        'You are a helpful, concise assistant.',
        'call me Ada',
        'echo: call me Ada (2 messages)',
        'I am in Porto',
        'echo: I am in Porto (4 messages)',
        'what have I told you?',
      ]);
      expect(contentsFor('call me Ada')[0]).toBe('You are Parley.');
      const again = await client.responses.retrieve(completed.id);
      expect(again).toMatchObject({
        id: completed.id,
        status: 'completed',
        output: [{ content: [{ text: 'echo: what have I told you? (6 messages)' }] }],
      });
    });

    it('branches from an earlier response into a fork, leaving the original conversation as it was', async () => {
      const root = await client.responses.create({ model: 'parley', input: 'I want a red car' });
      const later = await client.responses.create({ model: 'parley', input: 'actually make it blue', previous_response_id: root.id });
      const branch = await client.responses.create({ model: 'parley', input: 'with a sunroof', previous_response_id: root.id });
      expect(contentsFor('with a sunroof').slice(1)).toEqual(['I want a red car', 'echo: I want a red car (2 messages)', 'with a sunroof']);
      const [, rootSession] = /^resp_([0-9a-f]{32})/.exec(root.id)!;
      const [, branchSession] = /^resp_([0-9a-f]{32})/.exec(branch.id)!;
      expect(branchSession).not.toBe(rootSession);
      // the original goes on from its latest response, unaware of the branch
      await client.responses.create({ model: 'parley', input: 'and leather seats', previous_response_id: later.id });
      expect(contentsFor('and leather seats').slice(1, -1)).toEqual([
        'I want a red car',
        'echo: I want a red car (2 messages)',
        'actually make it blue',
        'echo: actually make it blue (4 messages)',
      ]);
    });

    it('returns the original response to a retry with the same Idempotency-Key, also one that continued a conversation', async () => {
      const first = await client.responses.create(
        { model: 'parley', input: 'retry me once' },
        { headers: { 'Idempotency-Key': 'resp-retry-1' } },
      );
      const again = await client.responses.create(
        { model: 'parley', input: 'retry me once' },
        { headers: { 'Idempotency-Key': 'resp-retry-1' } },
      );
      expect(again.id).toBe(first.id);
      const next = await client.responses.create(
        { model: 'parley', input: 'and once more', previous_response_id: first.id },
        { headers: { 'Idempotency-Key': 'resp-retry-2' } },
      );
      const retried = await client.responses.create(
        { model: 'parley', input: 'and once more', previous_response_id: first.id },
        { headers: { 'Idempotency-Key': 'resp-retry-2' } },
      );
      expect(retried.id).toBe(next.id); // not a fork: the same turn
      expect(llmSaw('retry me once')).toHaveLength(1);
      expect(llmSaw('and once more')).toHaveLength(1);
    });

    it('answers store: false statelessly, from the previous conversation and the input, and keeps nothing to continue', async () => {
      const kept = await client.responses.create({ model: 'parley', input: 'the code word is tulip' });
      const unstored = await client.responses.create({
        model: 'parley',
        input: 'what is the code word?',
        previous_response_id: kept.id,
        store: false,
      });
      expect(unstored).toMatchObject({ store: false, output_text: 'echo: what is the code word? (3 messages)' });
      expect(unstored.id).toMatch(/^resp_[0-9a-f]{32}$/);
      await expect(
        client.responses.create({ model: 'parley', input: 'and now?', previous_response_id: unstored.id }),
      ).rejects.toMatchObject({ status: 400, code: 'previous_response_not_found' });
    });

    it('forks natively too: POST /v1/sessions/{id}/fork starts from a version, and the fork carries its user', async () => {
      const { sessionId } = (await t.post('/v1/sessions', { userId: 'forker', metadata: { channel: 'web' } })).body;
      await t.post(`/v1/sessions/${sessionId}/turns`, { text: 'first fork question' });
      const atVersion = (await t.get(`/v1/sessions/${sessionId}`)).body.version as number;
      await t.post(`/v1/sessions/${sessionId}/turns`, { text: 'second fork question' });
      const fork = await t.post(`/v1/sessions/${sessionId}/fork`, { atVersion });
      expect(fork).toEqual({ status: 201, body: { sessionId: expect.any(String), forkedFrom: { sessionId, version: atVersion } } });
      const forked = (await t.get(`/v1/sessions/${fork.body.sessionId}`)).body;
      expect(forked).toMatchObject({ userId: 'forker', metadata: { channel: 'web' }, forkedFrom: { sessionId, version: atVersion } });
      expect(forked.messages.map((m: { text: string }) => m.text)).toEqual([
        'first fork question',
        'echo: first fork question (2 messages)',
      ]);
      await t.post(`/v1/sessions/${fork.body.sessionId}/turns`, { text: 'another path' });
      expect(contentsFor('another path').slice(1)).toEqual([
        'first fork question',
        'echo: first fork question (2 messages)',
        'another path',
      ]);
      const transcript = (await t.get(`/v1/sessions/${fork.body.sessionId}/messages`)).body.messages.map((m: { text: string }) => m.text);
      expect(transcript).toEqual([
        'first fork question',
        'echo: first fork question (2 messages)',
        'another path',
        'echo: another path (4 messages)',
      ]);
      const tooFar = await t.post(`/v1/sessions/${sessionId}/fork`, { atVersion: 10_000 });
      expect(tooFar.status).toBe(400);
      expect(tooFar.body.error).toMatchObject({ code: 'REQUEST.INVALID', details: { param: 'atVersion' } });
      expect((await t.post(`/v1/sessions/${sessionId}/fork`, { atVersion: 'one' })).status).toBe(400);
    });

    it("lists what a stored response was given (input_items), in OpenAI's list shape and order", async () => {
      const given = await client.responses.create({
        model: 'parley',
        input: [
          { role: 'user', content: 'My name is Ada' },
          { role: 'assistant', content: 'Hello Ada' },
          { role: 'user', content: 'What is my name?' },
        ],
      });
      const texts = (items: unknown[]) => (items as { content?: { text?: string }[] }[]).map((item) => item.content?.[0]?.text);
      const newestFirst = await client.responses.inputItems.list(given.id);
      expect(texts(newestFirst.data)).toEqual(['What is my name?', 'Hello Ada', 'My name is Ada']);
      expect(newestFirst.data.map((item) => [item.type, (item as { role?: string }).role])).toEqual([
        ['message', 'user'],
        ['message', 'assistant'],
        ['message', 'user'],
      ]);
      const firstTwo = await client.responses.inputItems.list(given.id, { order: 'asc', limit: 2 });
      expect(texts(firstTwo.data)).toEqual(['My name is Ada', 'Hello Ada']);
      expect(firstTwo.has_more).toBe(true);
      const rest = await client.responses.inputItems.list(given.id, { order: 'asc', after: firstTwo.data[1].id });
      expect(texts(rest.data)).toEqual(['What is my name?']);
      // the same ids on every read
      expect((await client.responses.inputItems.list(given.id)).data.map((item) => item.id)).toEqual(
        newestFirst.data.map((item) => item.id),
      );
      expect(await client.responses.inputItems.list('resp_nope').catch((e: unknown) => e)).toMatchObject({ status: 404 });
    });

    it('deletes a stored response: gone for retrieval, input items and continuation, while its turn stays in the conversation', async () => {
      const first = await client.responses.create({ model: 'parley', input: 'remember the number 42' });
      const second = await client.responses.create({ model: 'parley', input: 'and the colour blue', previous_response_id: first.id });
      await client.responses.delete(first.id);
      for (const call of [
        () => client.responses.retrieve(first.id),
        () => client.responses.inputItems.list(first.id),
        () => client.responses.delete(first.id),
      ]) {
        expect(await call().catch((e: unknown) => e)).toMatchObject({ status: 404, code: 'not_found' });
      }
      const continued = await client.responses
        .create({ model: 'parley', input: 'again', previous_response_id: first.id })
        .catch((e: unknown) => e);
      expect(continued).toMatchObject({ status: 400, code: 'previous_response_not_found', param: 'previous_response_id' });
      // the later response is untouched, and the conversation still holds the deleted one's turn
      expect(await client.responses.retrieve(second.id)).toMatchObject({ id: second.id, status: 'completed' });
      const third = await client.responses.create({ model: 'parley', input: 'what did I say first?', previous_response_id: second.id });
      expect(llmSaw('what did I say first?')[0].messages.map((m) => m.content)).toContain('remember the number 42');
      expect(third.status).toBe('completed');
    });

    it("answers an unknown previous_response_id with OpenAI's own 400", async () => {
      const error = await client.responses
        .create({ model: 'parley', input: 'hi', previous_response_id: 'resp_does_not_exist' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect(error).toMatchObject({
        status: 400,
        code: 'previous_response_not_found',
        param: 'previous_response_id',
        type: 'invalid_request_error',
      });
      expect((error as Error).message).toContain("Previous response with id 'resp_does_not_exist' not found.");
      await expect(client.responses.retrieve(`resp_${'0'.repeat(64)}`)).rejects.toMatchObject({ status: 404 });
    });

    it('continues a stored response with function_call_output, and the conversation keeps the exchange', async () => {
      const tools: OpenAI.Responses.Tool[] = [
        { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false },
      ];
      const asked = await client.responses.create({ model: 'parley', input: 'weather in Oslo?', tools });
      const call = asked.output.find((item): item is OpenAI.Responses.ResponseFunctionToolCall => item.type === 'function_call')!;
      const answered = await client.responses.create({
        model: 'parley',
        previous_response_id: asked.id,
        input: [{ type: 'function_call_output', call_id: call.call_id, output: 'snowy, -3°C' }],
        tools,
      });
      expect(answered.output_text).toBe('The weather: snowy, -3°C');
      const next = await client.responses.create({ model: 'parley', previous_response_id: answered.id, input: 'thanks, and Bergen?' });
      expect(next.output_text).toBe('echo: thanks, and Bergen? (6 messages)');
    });

    it('passes function tools through and returns the calls as function_call items', async () => {
      const response = await client.responses.create({
        model: 'parley',
        input: 'weather in Paris?',
        store: false,
        tools: [
          {
            type: 'function',
            name: 'get_weather',
            description: 'Weather in a city',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
            strict: false,
          },
        ],
      });
      const call = response.output.find((item): item is OpenAI.Responses.ResponseFunctionToolCall => item.type === 'function_call')!;
      expect(call).toMatchObject({ name: 'get_weather', arguments: JSON.stringify({ city: 'Paris' }) });
      const answer = await client.responses.create({
        model: 'parley',
        store: false,
        input: [
          { role: 'user', content: 'weather in Paris?' },
          call,
          { type: 'function_call_output', call_id: call.call_id, output: 'sunny, 21°C' },
        ],
        tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object' }, strict: false }],
      });
      expect(answer.output_text).toBe('The weather: sunny, 21°C');
    });
  });

  it('serves its OpenAPI document, as JSON and as a page, without a key', async () => {
    const document = await fetch(`${t.baseUrl}/docs/openapi.json`);
    expect(document.status).toBe(200);
    const paths = Object.keys(((await document.json()) as { paths: object }).paths);
    expect(paths).toEqual(expect.arrayContaining(['/v1/chat/completions', '/v1/responses', '/v1/sessions/{sessionId}/turns']));
    const page = await fetch(`${t.baseUrl}/docs`);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('/docs/openapi.json');
    const script = await fetch(`${t.baseUrl}/docs/swagger-ui-bundle.js`);
    expect(script.status).toBe(200);
    expect((await script.text()).length).toBeGreaterThan(100_000);
  });

  it("keeps another tenant's conversations out of reach on the OpenAI endpoints", async () => {
    const created = await runCli(['keys', 'create', '--tenant', 'other-co', '--name', 'test', '--json'], { DATABASE_URL: t.db.url });
    expect(created.code).toBe(0);
    const other = new OpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: (JSON.parse(created.stdout) as { key: string }).key, maxRetries: 0 });
    const mine = await client.responses.create({ model: 'parley', input: 'my secret is 4711' });
    await expect(
      other.responses.create({ model: 'parley', input: 'what is the secret?', previous_response_id: mine.id }),
    ).rejects.toMatchObject({ status: 400, code: 'previous_response_not_found' });
    await expect(other.responses.retrieve(mine.id)).rejects.toMatchObject({ status: 404 });
    // the same conversation key names a different conversation per tenant
    const headers = { 'X-Parley-Session': 'shared-name' };
    await client.chat.completions.create({ model: 'parley', messages: [{ role: 'user', content: 'tenant one speaking' }] }, { headers });
    const theirs = await other.chat.completions.create(
      { model: 'parley', messages: [{ role: 'user', content: 'tenant two speaking' }] },
      { headers },
    );
    expect(theirs.choices[0].message.content).toBe('echo: tenant two speaking (2 messages)');
    const [, sessionOfMine] = /^resp_([0-9a-f]{32})/.exec(mine.id)!;
    const uuid = sessionOfMine.replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
    const probe = await other.chat.completions.create(
      { model: 'parley', messages: [{ role: 'user', content: 'probe by session id' }] },
      { headers: { 'X-Parley-Session': uuid } },
    );
    expect(probe.choices[0].message.content).toBe('echo: probe by session id (2 messages)'); // a new conversation of its own, not mine
  });

  it("continues a tool round trip with the history even under a stateless tenant's policy", async () => {
    const env = { DATABASE_URL: t.db.url };
    const created = await runCli(['keys', 'create', '--tenant', 'faq-front', '--name', 'test', '--json'], env);
    expect(created.code).toBe(0);
    expect((await runCli(['tenants', 'set', '--tenant', 'faq-front', '--routing-policy', 'stateless'], env)).code).toBe(0);
    const front = new OpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: (JSON.parse(created.stdout) as { key: string }).key, maxRetries: 0 });
    const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
      { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
    ];
    const headers = { 'X-Parley-Session': 'front-weather-1' };
    const first = await front.chat.completions.create(
      { model: 'parley', messages: [{ role: 'user', content: 'weather in Oslo, please?' }], tools },
      { headers },
    );
    const call = first.choices[0].message.tool_calls![0];
    const { data, response } = await front.chat.completions
      .create({ model: 'parley', messages: [{ role: 'tool', tool_call_id: call.id, content: 'snowing, -3°C' }], tools }, { headers })
      .withResponse();
    expect(data.choices[0].message.content).toBe('The weather: snowing, -3°C');
    expect(response.headers.get('x-parley-route')).toBe('stateful; reason=tool-results');
    // the result reaches the model after the call it answers, as an OpenAI-compatible server requires
    const saw = t.llm.requests.find((r) => r.messages.at(-1)?.content === 'snowing, -3°C')!;
    expect(saw.messages.slice(1).map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
  });
  describe('what the client asks of the model', () => {
    const weather: OpenAI.Chat.Completions.ChatCompletionTool[] = [
      { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } },
    ];
    const asked = {
      temperature: 0.2,
      top_p: 0.9,
      max_tokens: 40,
      max_completion_tokens: 60,
      stop: ['\n\n', 'END'],
      seed: 7,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      response_format: {
        type: 'json_schema' as const,
        json_schema: { name: 'greeting', schema: { type: 'object', properties: { text: { type: 'string' } } }, strict: true },
      },
      tools: weather,
      tool_choice: 'none' as const,
      parallel_tool_calls: false,
    };
    // everything but the tools, which the model receives in its own form
    const { tools: _tools, ...passedOn } = asked;

    it('reaches the LLM call as sent, streamed or not, stateless or in a session, and is recorded with the turn', async () => {
      await client.chat.completions.create({ model: 'parley', messages: [{ role: 'user', content: 'params, stateless' }], ...asked });
      expect(llmSaw('params, stateless')[0]).toMatchObject({ model: 'gpt-4o-mini', ...passedOn });

      const headers = { 'X-Parley-Session': 'params-session' };
      const stream = await client.chat.completions.create(
        { model: 'gpt-4.1', messages: [{ role: 'user', content: 'params, in a session' }], ...asked, stream: true },
        { headers },
      );
      for await (const _chunk of stream) void _chunk;
      expect(llmSaw('params, in a session')[0]).toMatchObject({ model: 'gpt-4.1', stream: true, ...passedOn });

      // recorded with the message: `parley rerun --live` asks the same
      const { data } = await client.chat.completions
        .create({ model: 'parley', messages: [{ role: 'user', content: 'params, again' }], temperature: 1.5, stop: 'STOP' }, { headers })
        .withResponse();
      const { sessionId } = (data as unknown as { parley: { sessionId: string } }).parley;
      const events = await eventsOf(`session-${sessionId}`);
      const messages = events.filter((e) => e.type === 'UserMessageReceived').map((e) => e.data as { generation?: object });
      expect(messages.at(-2)!.generation).toMatchObject({
        model: 'gpt-4.1',
        temperature: 0.2,
        topP: 0.9,
        maxTokens: 40,
        maxCompletionTokens: 60,
        stop: ['\n\n', 'END'],
        seed: 7,
        toolChoice: 'none',
        parallelToolCalls: false,
      });
      expect(messages.at(-1)!.generation).toEqual({ temperature: 1.5, stop: ['STOP'] });
      expect(llmSaw('params, again')[0]).toMatchObject({ temperature: 1.5, stop: ['STOP'], model: 'gpt-4o-mini' });
      expect(llmSaw('params, again')[0]).not.toHaveProperty('top_p');

      // `parley rerun --live` asks the model what each turn asked
      const rerun = await runCli(['rerun', sessionId, '--live', '--json'], { DATABASE_URL: t.db.url, OPENAI_BASE_URL: t.llm.url });
      expect(rerun.code).toBe(0);
      expect(llmSaw('params, in a session').at(-1)).toMatchObject({ model: 'gpt-4.1', ...passedOn });
      expect(llmSaw('params, again').at(-1)).toMatchObject({ temperature: 1.5, stop: ['STOP'], model: 'gpt-4o-mini' });
      expect(llmSaw('params, again')).toHaveLength(2);
      // and `parley replay` (and the inspector, which runs the same code) shows what each turn asked
      const replayed = await runCli(['replay', sessionId], { DATABASE_URL: t.db.url });
      expect(replayed.stdout).toContain('asked of the model: temperature 1.5, stop ["STOP"]');
      expect(replayed.stdout).toMatch(
        /asked of the model: model "gpt-4\.1", temperature 0\.2, topP 0\.9, maxTokens 40, .*responseFormat json_schema/,
      );
    });

    it('reaches the LLM through the Responses API too (max_output_tokens, text.format, tool_choice)', async () => {
      await client.responses.create({
        model: 'other-model',
        input: 'responses params',
        temperature: 0.3,
        top_p: 0.5,
        max_output_tokens: 33,
        text: {
          format: { type: 'json_schema', name: 'answer', schema: { type: 'object', properties: { a: { type: 'string' } } }, strict: true },
        },
        tools: [{ type: 'function', name: 'lookup', parameters: { type: 'object', properties: {} }, strict: false }],
        tool_choice: { type: 'function', name: 'lookup' },
        parallel_tool_calls: true,
      });
      expect(llmSaw('responses params')[0]).toMatchObject({
        model: 'other-model',
        temperature: 0.3,
        top_p: 0.5,
        max_completion_tokens: 33,
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'answer', schema: { type: 'object', properties: { a: { type: 'string' } } }, strict: true },
        },
        tool_choice: { type: 'function', function: { name: 'lookup' } },
        parallel_tool_calls: true,
      });
    });

    it('refuses a value out of range with a 400 naming the param, and n > 1', async () => {
      for (const [param, value] of [
        ['temperature', 2.5],
        ['top_p', -0.1],
        ['max_tokens', 0],
        ['presence_penalty', 3],
        ['seed', 1.5],
        ['n', 2],
      ] as const) {
        const error = await client.chat.completions
          .create({ model: 'parley', messages: [{ role: 'user', content: 'out of range' }], [param]: value })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(OpenAI.BadRequestError);
        expect(error).toMatchObject({ status: 400, param, type: 'invalid_request_error' });
      }
      const tooManyStops = await client.chat.completions
        .create({ model: 'parley', messages: [{ role: 'user', content: 'x' }], stop: ['a', 'b', 'c', 'd', 'e'] })
        .catch((e: unknown) => e);
      expect(tooManyStops).toMatchObject({ status: 400, param: 'stop' });
      const badOutput = await client.responses.create({ model: 'parley', input: 'x', max_output_tokens: -1 }).catch((e: unknown) => e);
      expect(badOutput).toMatchObject({ status: 400, param: 'max_output_tokens' });
      expect(llmSaw('out of range')).toEqual([]);
    });

    it('lists the models a request may name, and answers another as OpenAI does (404 model_not_found)', async () => {
      const listed = [];
      for await (const m of client.models.list()) listed.push(m.id);
      expect(listed).toEqual(['parley', 'gpt-4o-mini', 'gpt-4.1', 'other-model']);
      expect(await client.models.retrieve('gpt-4.1')).toMatchObject({ id: 'gpt-4.1', object: 'model' });
      expect(await client.models.retrieve('nope').catch((e: unknown) => e)).toMatchObject({
        status: 404,
        code: 'model_not_found',
        param: 'model',
      });
      const unknown = await client.chat.completions
        .create({ model: 'gpt-9-ultra', messages: [{ role: 'user', content: 'unknown model' }] })
        .catch((e: unknown) => e);
      expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
      expect(unknown).toMatchObject({ status: 404, code: 'model_not_found', param: 'model' });
      expect(await client.responses.create({ model: 'gpt-9-ultra', input: 'unknown model' }).catch((e: unknown) => e)).toMatchObject({
        status: 404,
        code: 'model_not_found',
      });
      expect(llmSaw('unknown model')).toEqual([]);
    });
  });
});
