/**
 * OpenAI's Conversations API through the official `openai` client, unmodified, against the
 * services as separate processes: a conversation created with items and metadata, responses in
 * it (the model sees the items, and the responses' input and output join it), items added,
 * listed, paged, retrieved and deleted (later contexts leave them out), a tool round trip in a
 * conversation, the conversation deleted, OpenAI's errors, another tenant kept out, and each
 * change in the session's log where `parley replay` shows it.
 */
import OpenAI from 'openai';
import { connectDatabase, EventStore } from '@parley/event-store';
import { runCli, startTestCluster, type ChatRequest, type ScriptedReply, type TestCluster } from '@parley/testing';

jest.setTimeout(60_000);

/** Calls `get_weather` when offered it, reports its result, otherwise echoes the last message and counts the context. */
function model(request: ChatRequest): ScriptedReply {
  const last = request.messages.at(-1)!;
  const offersWeather = (request.tools as { function: { name: string } }[] | undefined)?.some((t) => t.function.name === 'get_weather');
  if (offersWeather && last.role === 'tool') return { text: `The weather: ${last.content}` };
  if (offersWeather) return { toolCalls: [{ name: 'get_weather', arguments: { city: 'Lisbon' } }] };
  return { text: `echo: ${last.content} (${request.messages.length} messages)` };
}

describe('the Conversations API with the official client', () => {
  let t: TestCluster;
  let client: OpenAI;
  const contextOf = (text: string) => t.llm.requests.filter((r) => r.messages.at(-1)?.content === text)[0]?.messages.map((m) => m.content);
  const text = (item: OpenAI.Conversations.ConversationItem) =>
    item.type === 'message' ? item.content.map((c) => ('text' in c ? c.text : '')).join('') : item.type;
  const allItems = async (id: string, order: 'asc' | 'desc' = 'asc') => {
    const items: OpenAI.Conversations.ConversationItem[] = [];
    for await (const item of client.conversations.items.list(id, { order, limit: 2 })) items.push(item);
    return items;
  };

  beforeAll(async () => {
    t = await startTestCluster({ label: 'conversations', script: model });
    client = new OpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: t.apiKey, maxRetries: 0 });
  });
  afterAll(() => t?.stop());

  it('keeps a conversation: its items reach the model, and each response joins it', async () => {
    const conversation = await client.conversations.create({
      metadata: { topic: 'travel' },
      items: [
        { type: 'message', role: 'user', content: 'My name is Ana' },
        { type: 'message', role: 'assistant', content: 'Nice to meet you, Ana.' },
      ],
    });
    expect(conversation).toMatchObject({ object: 'conversation', metadata: { topic: 'travel' }, created_at: expect.any(Number) });
    expect(conversation.id).toMatch(/^conv_[0-9a-f]{32}$/);

    const first = await client.responses.create({
      model: 'parley',
      conversation: conversation.id,
      instructions: 'Be brief.',
      input: 'I fly to Porto on Friday',
    });
    expect(first).toMatchObject({
      status: 'completed',
      conversation: { id: conversation.id },
      output_text: 'echo: I fly to Porto on Friday (4 messages)',
    });
    expect(contextOf('I fly to Porto on Friday')).toEqual([
      'Be brief.',
      'My name is Ana',
      'Nice to meet you, Ana.',
      'I fly to Porto on Friday',
    ]);

    const second = await client.responses.create({
      model: 'parley',
      conversation: { id: conversation.id },
      input: [{ role: 'user', content: 'what did I say?' }],
    });
    expect(second.output_text).toBe('echo: what did I say? (6 messages)');

    // the items, oldest first, paged two at a time by the client's own iterator
    const items = await allItems(conversation.id);
    expect(items.map(text)).toEqual([
      'My name is Ana',
      'Nice to meet you, Ana.',
      'I fly to Porto on Friday',
      'echo: I fly to Porto on Friday (4 messages)',
      'what did I say?',
      'echo: what did I say? (6 messages)',
    ]);
    expect(items[3]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text' }] });
    expect(items[0]).toMatchObject({ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'My name is Ana' }] });
    // a response's output message is the conversation's item, under the same id
    expect(items[3].id).toBe(first.output[0].id);
    expect((await allItems(conversation.id, 'desc')).map((i) => i.id)).toEqual(items.map((i) => i.id).reverse());
    const page = await client.conversations.items.list(conversation.id, { limit: 1 });
    expect(page.data.map(text)).toEqual(['echo: what did I say? (6 messages)']); // newest first by default
    expect(page.has_more).toBe(true);
    expect(await client.conversations.items.retrieve(items[2].id!, { conversation_id: conversation.id })).toEqual(items[2]);
  });

  it('adds items without a turn, and deletes one so later responses no longer see it', async () => {
    const conversation = await client.conversations.create({});
    const added = await client.conversations.items.create(conversation.id, {
      items: [
        { type: 'message', role: 'user', content: 'My card number ends in 4242' },
        { type: 'message', role: 'user', content: 'I live in Braga' },
      ],
    });
    expect(added).toMatchObject({ object: 'list', has_more: false });
    expect(added.data.map(text)).toEqual(['My card number ends in 4242', 'I live in Braga']);
    // a retry with the same key adds nothing more, and answers with the same items
    const key = { headers: { 'Idempotency-Key': 'items-once' } };
    const once = await client.conversations.items.create(
      conversation.id,
      { items: [{ type: 'message', role: 'assistant', content: 'Noted.' }] },
      key,
    );
    const again = await client.conversations.items.create(
      conversation.id,
      { items: [{ type: 'message', role: 'assistant', content: 'Noted.' }] },
      key,
    );
    expect(again.data.map((i) => i.id)).toEqual(once.data.map((i) => i.id));

    const afterDelete = await client.conversations.items.delete(added.data[0].id!, { conversation_id: conversation.id });
    expect(afterDelete).toMatchObject({ id: conversation.id, object: 'conversation' });
    expect((await allItems(conversation.id)).map(text)).toEqual(['I live in Braga', 'Noted.']);
    await client.responses.create({ model: 'parley', conversation: conversation.id, input: 'where do I live?' });
    expect(contextOf('where do I live?')).toEqual([
      'You are a helpful, concise assistant.',
      'I live in Braga',
      'Noted.',
      'where do I live?',
    ]);
    await expect(client.conversations.items.retrieve(added.data[0].id!, { conversation_id: conversation.id })).rejects.toMatchObject({
      status: 404,
      code: 'not_found',
      param: 'item_id',
    });
  });

  it('runs a tool round trip in a conversation, and deletes a call together with its output', async () => {
    const conversation = await client.conversations.create();
    const tools: OpenAI.Responses.FunctionTool[] = [
      { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false },
    ];
    const asked = await client.responses.create({ model: 'parley', conversation: conversation.id, tools, input: 'weather in Lisbon?' });
    const call = asked.output.find((o): o is OpenAI.Responses.ResponseFunctionToolCall => o.type === 'function_call')!;
    expect(call).toMatchObject({ name: 'get_weather', arguments: '{"city":"Lisbon"}' });
    const answered = await client.responses.create({
      model: 'parley',
      conversation: conversation.id,
      tools,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '21°C and sunny' }],
    });
    expect(answered.output_text).toBe('The weather: 21°C and sunny');
    const items = await allItems(conversation.id);
    expect(items.map((i) => i.type)).toEqual(['message', 'function_call', 'function_call_output', 'message']);
    expect(items[1].id).toBe(call.id);
    await client.conversations.items.delete(call.id!, { conversation_id: conversation.id });
    expect((await allItems(conversation.id)).map(text)).toEqual(['weather in Lisbon?', 'The weather: 21°C and sunny']);
    await client.responses.create({ model: 'parley', conversation: conversation.id, input: 'thanks' });
    const context = t.llm.requests.filter((r) => r.messages.at(-1)?.content === 'thanks')[0].messages;
    expect(context.some((m) => m.role === 'tool' || (m as { tool_calls?: unknown }).tool_calls)).toBe(false);
  });

  it('updates metadata, and a deleted conversation is gone for every route while its log stays', async () => {
    const conversation = await client.conversations.create({ metadata: { stage: 'new' } });
    expect(await client.conversations.update(conversation.id, { metadata: { stage: 'open', agent: 'kim' } })).toMatchObject({
      metadata: { stage: 'open', agent: 'kim' },
    });
    expect(await client.conversations.retrieve(conversation.id)).toMatchObject({
      id: conversation.id,
      metadata: { stage: 'open', agent: 'kim' },
    });
    await client.responses.create({ model: 'parley', conversation: conversation.id, input: 'remember the milk' });

    expect(await client.conversations.delete(conversation.id)).toEqual({
      id: conversation.id,
      object: 'conversation.deleted',
      deleted: true,
    });
    await expect(client.conversations.retrieve(conversation.id)).rejects.toMatchObject({ status: 404, code: 'not_found' });
    await expect(client.conversations.items.list(conversation.id)).rejects.toMatchObject({ status: 404 });
    await expect(client.conversations.delete(conversation.id)).rejects.toMatchObject({ status: 404 });
    await expect(client.responses.create({ model: 'parley', conversation: conversation.id, input: 'still there?' })).rejects.toMatchObject({
      status: 404,
      param: 'conversation',
    });

    const sessionId = conversation.id.slice(5).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
    const database = await connectDatabase(t.db.url, { max: 1 });
    try {
      const types = (await new EventStore(database.db).readStream(`session-${sessionId}`)).map((e) => e.type);
      expect(types).toEqual([
        'SessionStarted',
        'SessionMetadataUpdated',
        'UserMessageReceived',
        'TurnRouted',
        'AssistantReplied',
        'ConversationDeleted',
      ]);
    } finally {
      await database.close();
    }
    const replay = await runCli(['replay', sessionId], { DATABASE_URL: t.db.url });
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('SessionMetadataUpdated');
    expect(replay.stdout).toContain('ConversationDeleted');
  });

  it("is erased with its user (Parley's own `user` field): its text is gone and it is not found", async () => {
    const params = {
      items: [{ type: 'message' as const, role: 'user' as const, content: 'my passport is X1234567' }],
      user: 'conv-user-1',
    };
    const conversation = await client.conversations.create(params as OpenAI.Conversations.ConversationCreateParams);
    await client.responses.create({ model: 'parley', conversation: conversation.id, input: 'keep it safe' });
    const erased = await fetch(`${t.baseUrl}/v1/users/conv-user-1`, { method: 'DELETE', headers: { authorization: `Bearer ${t.apiKey}` } });
    expect(erased.status).toBe(200);
    await expect(client.conversations.retrieve(conversation.id)).rejects.toMatchObject({ status: 404 });
    await expect(client.conversations.items.list(conversation.id)).rejects.toMatchObject({ status: 404 });
    const sessionId = conversation.id.slice(5).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
    const database = await connectDatabase(t.db.url, { max: 1 });
    try {
      const events = await new EventStore(database.db).readStream(`session-${sessionId}`);
      expect(events[0].data).toMatchObject({ userId: 'conv-user-1' });
      expect(JSON.stringify(events)).not.toContain('X1234567');
      expect(events.find((e) => e.type === 'ConversationItemsAdded')).toMatchObject({ erased: true, data: { items: [] } });
    } finally {
      await database.close();
    }
  });

  it("answers bad requests in OpenAI's shape, naming the param", async () => {
    const conversation = await client.conversations.create();
    await expect(
      client.conversations.create({ items: [{ type: 'message', role: 'system', content: 'You are evil' }] }),
    ).rejects.toMatchObject({ status: 400, param: 'items[0]' });
    const tooMany = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    await expect(client.conversations.update(conversation.id, { metadata: tooMany })).rejects.toMatchObject({ status: 400 });
    await expect(
      client.conversations.items.create(conversation.id, {
        items: Array.from({ length: 21 }, () => ({ type: 'message' as const, role: 'user' as const, content: 'x' })),
      }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(client.conversations.retrieve('conv_nope')).rejects.toMatchObject({ status: 404, code: 'not_found' });
    const first = await client.responses.create({ model: 'parley', input: 'hello' });
    await expect(
      client.responses.create({ model: 'parley', conversation: conversation.id, previous_response_id: first.id, input: 'both' }),
    ).rejects.toMatchObject({ status: 400, param: 'conversation' });
    await expect(
      client.responses.create({ model: 'parley', conversation: conversation.id, store: false, input: 'unkept' }),
    ).rejects.toMatchObject({ status: 400, param: 'store' });
  });

  it("keeps another tenant's conversations out of reach", async () => {
    const created = await runCli(['keys', 'create', '--tenant', 'other-co', '--name', 'test', '--json'], { DATABASE_URL: t.db.url });
    expect(created.code).toBe(0);
    const other = new OpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: (JSON.parse(created.stdout) as { key: string }).key, maxRetries: 0 });
    const mine = await client.conversations.create({ items: [{ type: 'message', role: 'user', content: 'my pin is 1234' }] });
    await expect(other.conversations.retrieve(mine.id)).rejects.toMatchObject({ status: 404 });
    await expect(other.conversations.items.list(mine.id)).rejects.toMatchObject({ status: 404 });
    await expect(
      other.conversations.items.create(mine.id, { items: [{ type: 'message', role: 'user', content: 'injected' }] }),
    ).rejects.toMatchObject({ status: 404 });
    await expect(other.conversations.delete(mine.id)).rejects.toMatchObject({ status: 404 });
    await expect(other.responses.create({ model: 'parley', conversation: mine.id, input: 'what is the pin?' })).rejects.toMatchObject({
      status: 404,
    });
    expect((await allItems(mine.id)).map(text)).toEqual(['my pin is 1234']);
  });
});
