import OpenAI from 'openai';
import { ScriptedLlmServer, type ScriptedReply } from '@parley/testing';
import { OpenAiCompatibleLlm } from './openai-compatible.llm';

describe('OpenAiCompatibleLlm against the scripted server over HTTP', () => {
  let server: ScriptedLlmServer;
  beforeAll(async () => {
    server = await ScriptedLlmServer.start();
  });
  afterAll(() => server.close());

  const llm = (overrides: Partial<ConstructorParameters<typeof OpenAiCompatibleLlm>[0]> = {}) =>
    new OpenAiCompatibleLlm({ baseURL: server.url, model: 'scripted-1', timeoutMs: 2_000, maxRetries: 0, ...overrides });

  it('sends the exact context and returns text, model and usage', async () => {
    server.setScript(() => ({ text: 'Four people at eight.' }));
    const result = await llm().complete({
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'book a table' },
      ],
    });
    expect(result).toEqual({
      text: 'Four people at eight.',
      toolCalls: [],
      model: 'scripted-1',
      usage: { promptTokens: 4, completionTokens: 4 },
      interrupted: false,
    });
    expect(server.requests.at(-1)).toMatchObject({
      model: 'scripted-1',
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'book a table' },
      ],
    });
  });

  it('retries a 429 or 503 after the delay the server asks for (Retry-After), then answers', async () => {
    const at: number[] = [];
    server.setScript((_, index): ScriptedReply => {
      at.push(Date.now());
      return at.length === 1
        ? { status: 429, headers: { 'retry-after': '1' } }
        : at.length === 2
          ? { status: 503, headers: { 'retry-after-ms': '300' } }
          : { text: `answered on call ${index}` };
    });
    const result = await llm({ maxRetries: 2 }).complete({ messages: [{ role: 'user', content: 'busy?' }] });
    expect(result.text).toMatch(/^answered on call/);
    expect(at).toHaveLength(3);
    // no sooner than asked (a lower bound only: a slow machine makes the gaps longer, never shorter)
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(950);
    expect(at[2] - at[1]).toBeGreaterThanOrEqual(280);
  });

  it('sends max_tokens when the caller caps the reply (the summary)', async () => {
    server.setScript(() => ({ text: 'short' }));
    await llm().complete({ messages: [{ role: 'user', content: 'summarize' }], maxTokens: 150 });
    expect(server.requests.at(-1)).toMatchObject({ max_tokens: 150 });
  });

  it('offers tools, returns the calls, and sends their results back in the next request', async () => {
    server.setScript((request) =>
      request.messages.some((m) => m.role === 'tool')
        ? { text: 'Noted.' }
        : { toolCalls: [{ name: 'remember', arguments: { name: 'seat', value: 'aisle' } }] },
    );
    const tools = [{ name: 'remember', description: 'd', parameters: { type: 'object', properties: {} } }];
    const first = await llm().complete({ messages: [{ role: 'user', content: 'I like aisle seats' }], tools });
    expect(first.text).toBe('');
    expect(first.toolCalls).toEqual([
      { id: expect.any(String), name: 'remember', arguments: JSON.stringify({ name: 'seat', value: 'aisle' }) },
    ]);
    expect(server.requests.at(-1)).toMatchObject({ tools: [{ type: 'function', function: { name: 'remember' } }] });
    const second = await llm().complete({
      messages: [
        { role: 'user', content: 'I like aisle seats' },
        { role: 'assistant', content: null, toolCalls: first.toolCalls },
        { role: 'tool', toolCallId: first.toolCalls[0].id, content: 'remembered' },
      ],
      tools,
    });
    expect(second.text).toBe('Noted.');
    expect(server.requests.at(-1)!.messages.slice(1)).toEqual([
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: first.toolCalls[0].id, type: 'function', function: { name: 'remember', arguments: first.toolCalls[0].arguments } },
        ],
      },
      { role: 'tool', tool_call_id: first.toolCalls[0].id, content: 'remembered' },
    ]);
  });

  it('reports a timeout as LLM.TIMEOUT', async () => {
    server.setScript(() => ({ text: 'late', delayMs: 1_000 }));
    await expect(llm({ timeoutMs: 200 }).complete({ messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({
      code: 'LLM.TIMEOUT',
    });
  });

  it('retries a 5xx and reports a persistent one as LLM.UPSTREAM', async () => {
    server.setScript((_, i) => (i % 2 === 0 ? { status: 503 } : { text: 'recovered' }));
    const before = server.requests.length;
    server.setScript((_, i) => (i === before ? { status: 503 } : { text: 'recovered' }));
    expect((await llm({ maxRetries: 1 }).complete({ messages: [{ role: 'user', content: 'x' }] })).text).toBe('recovered');
    server.setScript(() => ({ status: 500 }));
    await expect(llm().complete({ messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ code: 'LLM.UPSTREAM' });
  });

  it('reports an unreachable server as LLM.UNREACHABLE', async () => {
    await expect(llm({ baseURL: 'http://127.0.0.1:1/v1' }).complete({ messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({
      code: 'LLM.UNREACHABLE',
    });
  });

  it('streams real SSE chunks, with usage and tool calls, that the official SDK reads', async () => {
    server.setScript(() => ({ text: 'one two three', toolCalls: [{ name: 'remember', arguments: { name: 'seat', value: 'aisle' } }] }));
    const client = new OpenAI({ baseURL: server.url, apiKey: 'k' });
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let args = '';
    let usage: unknown;
    const ids = new Set<string>();
    for await (const chunk of stream) {
      ids.add(chunk.id);
      text += chunk.choices[0]?.delta.content ?? '';
      args += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('one two three');
    expect(JSON.parse(args)).toEqual({ name: 'seat', value: 'aisle' });
    expect(usage).toMatchObject({ completion_tokens: 3 });
    expect(ids.size).toBe(1);
  });

  it('streams a reply to onDelta as it arrives, assembling tool calls and usage', async () => {
    server.setScript(() => ({
      text: 'Table for four at eight.',
      toolCalls: [{ name: 'remember', arguments: { name: 'party', value: 'four' } }],
    }));
    const pieces: string[] = [];
    const result = await llm().complete({ messages: [{ role: 'user', content: 'book it' }], onDelta: (text) => pieces.push(text) });
    expect(pieces.length).toBeGreaterThan(2);
    expect(pieces.join('')).toBe('Table for four at eight.');
    expect(result).toMatchObject({
      text: 'Table for four at eight.',
      model: 'scripted-1',
      interrupted: false,
      usage: { completionTokens: 5 },
    });
    expect(result.toolCalls).toEqual([
      { id: expect.any(String), name: 'remember', arguments: JSON.stringify({ name: 'party', value: 'four' }) },
    ]);
    expect(server.requests.at(-1)).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('ends an aborted stream with the text generated so far, marked interrupted', async () => {
    server.setScript(() => ({ text: 'a b c d e f g h i j k l m n o p', chunkDelayMs: 40 }));
    const abort = new AbortController();
    const pieces: string[] = [];
    const result = await llm().complete({
      messages: [{ role: 'user', content: 'spell it' }],
      signal: abort.signal,
      onDelta: (text) => {
        pieces.push(text);
        if (pieces.length === 3) abort.abort();
      },
    });
    expect(result.interrupted).toBe(true);
    expect(result.text).toBe(pieces.join(''));
    expect(result.text).toBe('a b c ');
  });
});
