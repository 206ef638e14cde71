/**
 * The responder's reads, against PostgreSQL, NATS and the scripted LLM over HTTP: a turn of a
 * session it is following (its message came on the bus just before its routing) is answered from
 * its own fold without reading the log, with the same context a read would give, and so is a
 * sessionless turn whose message came on the bus; a redelivery, a turn recorded a while ago, a
 * gap in what it saw, and the `interrupt` policy read the log.
 */
import { randomUUID } from 'node:crypto';
import type { JsMsg } from '@nats-io/jetstream';
import { sessionStreamId, type NewEvent, type RecordedEvent, type ResolvedTenantSettings } from '@parley/contracts';
import {
  connectDatabase,
  EventStore,
  migrateDatabase,
  SessionProjectionRepository,
  SessionStates,
  TenantDirectory,
  updateTenantSettings,
  type Database,
} from '@parley/event-store';
import { OpenAiCompatibleLlm } from '@parley/llm';
import {
  connectNats,
  ensureEventsStream,
  JetStreamBus,
  JetStreamContext,
  NotYet,
  RunningTurns,
  StreamSignals,
  TurnDeltas,
  type NatsConnection,
} from '@parley/messaging';
import {
  createTestDatabase,
  deleteTestStreams,
  ScriptedLlmServer,
  TEST_NATS_URL,
  testNatsPrefix,
  type TestDatabase,
} from '@parley/testing';
import { KeptMessages } from './kept-messages';
import { Summarizer } from './summarizer';
import { TurnAnswers } from './turn-answers';
import { TurnPlanner } from './turn-planner';
import { TurnResponderHandler } from './turn-responder.handler';

const tenantId = 'default';
const SYSTEM = 'You are a test assistant.';
const defaults: ResolvedTenantSettings = {
  callerUsers: false,
  routingPolicy: 'hybrid',
  faqThreshold: 0.8,
  contextBudgetTokens: 6_000,
  sessionIdleSeconds: 3_600,
  rateLimitPerMinute: 600,
  concurrentTurns: 'queue',
};

/** A delivery as the transport hands it over: only its count matters here. */
const delivery = (deliveryCount: number) => new JetStreamContext([{ info: { deliveryCount } } as JsMsg]);

describe('the responder’s read of a session', () => {
  let testDb: TestDatabase;
  let database: Database;
  let store: EventStore;
  let nc: NatsConnection;
  let llm: ScriptedLlmServer;
  let running: RunningTurns;
  let handler: TurnResponderHandler;
  let newHandler: () => TurnResponderHandler;
  const prefix = testNatsPrefix('responder');

  beforeAll(async () => {
    testDb = await createTestDatabase('responder_reads');
    await migrateDatabase(testDb.url);
    database = await connectDatabase(testDb.url, { max: 2 });
    store = new EventStore(database.db);
    const projections = new SessionProjectionRepository(database.db);
    nc = await connectNats(TEST_NATS_URL, 'responder-reads-test');
    await ensureEventsStream(nc, prefix);
    llm = await ScriptedLlmServer.start((request) => ({ text: `answer to ${String(request.messages.at(-1)?.content)}` }));
    running = new RunningTurns(nc, prefix);
    newHandler = () => {
      const states = new SessionStates(store, projections);
      const publisher = new JetStreamBus(nc, prefix);
      const model = new OpenAiCompatibleLlm({ baseURL: llm.url, apiKey: 'test', model: 'scripted', timeoutMs: 10_000, maxRetries: 0 });
      const signals = new StreamSignals(nc, prefix);
      const kept = new KeptMessages(1_000, 60_000);
      const planner = new TurnPlanner(store, states, new TenantDirectory(database.db, defaults, 0), signals, kept, SYSTEM);
      const answers = new TurnAnswers(store, states, publisher, publisher.core, new TurnDeltas(nc), signals);
      const parts = { kept, signals, planner, answers, summarizer: new Summarizer(store, states, publisher, model) };
      return new TurnResponderHandler(states, model, running, parts);
    };
    handler = newHandler();
  });
  afterAll(async () => {
    running?.close();
    await nc?.close();
    await llm?.close();
    await deleteTestStreams(prefix);
    await database?.close();
    await testDb?.drop();
  });

  async function newSession(): Promise<string> {
    const sessionId = randomUUID();
    const streamId = sessionStreamId(sessionId);
    await store.append(
      streamId,
      tenantId,
      [{ eventId: randomUUID(), type: 'SessionStarted', data: { sessionId, userId: null, metadata: {} }, metadata: { tenantId } }],
      'no_stream',
      {
        newKey: { userId: null },
      },
    );
    return streamId;
  }

  /** A turn as ingress records it: the message, marked routed, and its routing, in one append. */
  async function ingressTurn(
    streamId: string,
    text: string,
    mode: 'stateful' | 'stateless' = 'stateful',
  ): Promise<[RecordedEvent<'UserMessageReceived'>, RecordedEvent<'TurnRouted'>]> {
    const turnId = randomUUID();
    const messageId = randomUUID();
    const reason = mode === 'stateful' ? 'session-default-stateful' : 'no-session';
    const replyTo = `${prefix}.replies.test`; // an ingress waiting (nobody here)
    const events: NewEvent[] = [
      {
        eventId: messageId,
        type: 'UserMessageReceived',
        data: { turnId, text, requestedMode: 'auto' },
        metadata: { tenantId, routed: true, replyTo },
      },
      {
        eventId: randomUUID(),
        type: 'TurnRouted',
        data: { turnId, mode, route: 'llm', reason, features: {} },
        metadata: { tenantId, causationId: messageId, correlationId: turnId, replyTo },
      },
    ];
    const expected = streamId.startsWith('turn-') ? 'no_stream' : 'exists';
    return (await store.append(streamId, tenantId, events, expected)) as [
      RecordedEvent<'UserMessageReceived'>,
      RecordedEvent<'TurnRouted'>,
    ];
  }

  /** Hands a turn's events to the handler as the bus would, counting the handler's reads of the log. */
  async function answer(message: RecordedEvent<'UserMessageReceived'>, routed: RecordedEvent<'TurnRouted'>, deliveryCount = 1) {
    const reads = [jest.spyOn(store, 'readStream'), jest.spyOn(store, 'readEvents')];
    try {
      handler.keep(message);
      await handler.respond(routed, delivery(deliveryCount));
      return reads.reduce((n, spy) => n + spy.mock.calls.length, 0);
    } finally {
      reads.forEach((spy) => spy.mockRestore());
    }
  }
  const contextOf = (text: string) =>
    llm.requests
      .filter((r) => r.messages.at(-1)?.content === text)
      .at(-1)!
      .messages.map((m) => m.content);
  const lastReply = async (streamId: string) => (await store.readStream(streamId)).filter((e) => e.type === 'AssistantReplied').at(-1)!;

  it('answers a turn of a session it follows from its own fold, seeing what a read of the log would', async () => {
    const streamId = await newSession();
    expect(await answer(...(await ingressTurn(streamId, 'first question')))).toBeGreaterThan(0); // nothing followed yet: read
    expect(await answer(...(await ingressTurn(streamId, 'second question')))).toBe(0);
    expect(contextOf('second question')).toEqual([SYSTEM, 'first question', 'answer to first question', 'second question']);
    expect((await lastReply(streamId)).data).toMatchObject({ text: 'answer to second question', interrupted: null });
    const llmCalls = llm.requests.length;

    // a redelivery reads the log, finds the turn answered, and does not call the LLM again
    const [message, routed] = (await store.readStream(streamId)).slice(-3, -1) as [
      RecordedEvent<'UserMessageReceived'>,
      RecordedEvent<'TurnRouted'>,
    ];
    expect(await answer(message, routed, 2)).toBeGreaterThan(0);
    expect(llm.requests.length).toBe(llmCalls);
    expect((await store.readStream(streamId)).filter((e) => e.type === 'AssistantReplied')).toHaveLength(2);
  });

  it('reads the log when it missed an event of the session, and answers from all of it', async () => {
    const streamId = await newSession();
    await answer(...(await ingressTurn(streamId, 'tell me a long story')));
    const told = await lastReply(streamId);
    // the user cut the reply short: recorded by ingress, never delivered to the responder
    await store.append(
      streamId,
      tenantId,
      [
        {
          eventId: randomUUID(),
          type: 'ReplyInterrupted',
          data: { turnId: told.data.turnId as string, spokenText: 'answer to' },
          metadata: { tenantId },
        },
      ],
      'exists',
    );
    expect(await answer(...(await ingressTurn(streamId, 'sorry, go on')))).toBeGreaterThan(0);
    expect(contextOf('sorry, go on')).toEqual([SYSTEM, 'tell me a long story', 'answer to', 'sorry, go on']);
  });

  it('reads the log for a turn queued behind one it answered, so the queued turn sees that answer', async () => {
    const streamId = await newSession();
    await answer(...(await ingressTurn(streamId, 'opening')));
    // the user speaks again before the first of these is answered: both are in the log before either reply
    const first = await ingressTurn(streamId, 'count to three');
    const second = await ingressTurn(streamId, 'and then?');
    expect(await answer(...first)).toBe(0); // followed: its reply lands past the second turn, a gap the fold now knows of
    expect(await answer(...second)).toBeGreaterThan(0);
    expect(contextOf('and then?')).toEqual([
      SYSTEM,
      'opening',
      'answer to opening',
      'count to three',
      'answer to count to three',
      'and then?',
    ]);
  });

  it('answers a sessionless turn from the message that came on the bus, and reads for a redelivery or a turn recorded a while ago', async () => {
    const [message, routed] = await ingressTurn(`turn-${randomUUID()}`, 'what are your opening hours?', 'stateless');
    expect(await answer(message, routed)).toBe(0);
    expect(contextOf('what are your opening hours?')).toEqual([SYSTEM, 'what are your opening hours?']);
    const llmCalls = llm.requests.length;
    expect(await answer(message, routed, 2)).toBeGreaterThan(0); // redelivered: the answer is in the log
    expect(await answer(message, { ...routed, recordedAt: new Date(Date.now() - 60_000).toISOString() })).toBeGreaterThan(0); // re-published late
    expect(llm.requests.length).toBe(llmCalls);
  });

  it('answers a turn queued behind one without an outcome only after that one: it waits (NotYet), then sees the reply', async () => {
    const streamId = await newSession();
    await answer(...(await ingressTurn(streamId, 'opening')));
    const first = await ingressTurn(streamId, 'first of two');
    const second = await ingressTurn(streamId, 'second of two');
    // the second is delivered first (another replica has the first, or the bus reordered them)
    handler.keep(second[0]);
    const waited = await handler.respond(second[1], delivery(1)).then(
      () => null,
      (error: unknown) => error,
    );
    expect(waited).toBeInstanceOf(NotYet);
    expect(llm.requests.filter((r) => r.messages.at(-1)?.content === 'second of two')).toHaveLength(0);
    // the wait ends when the session changes: here, the first turn's answer
    await answer(...first);
    await (waited as NotYet).until;
    await answer(...second);
    expect(contextOf('second of two')).toEqual([
      SYSTEM,
      'opening',
      'answer to opening',
      'first of two',
      'answer to first of two',
      'second of two',
    ]);
    const replies = (await store.readStream(streamId)).filter((e) => e.type === 'AssistantReplied');
    expect(replies.map((e) => e.data.stateVersion)).toEqual([3, 8, 9]); // each context: the log up to its own routing, or the earlier reply
  });

  it('reads the log under the interrupt policy, where a later message decides', async () => {
    const streamId = await newSession();
    await answer(...(await ingressTurn(streamId, 'hello')));
    expect(await answer(...(await ingressTurn(streamId, 'hello again')))).toBe(0);
    await updateTenantSettings(database.db, tenantId, { concurrentTurns: 'interrupt' });
    try {
      expect(await answer(...(await ingressTurn(streamId, 'and once more')))).toBeGreaterThan(0);
      expect(contextOf('and once more')).toEqual([
        SYSTEM,
        'hello',
        'answer to hello',
        'hello again',
        'answer to hello again',
        'and once more',
      ]);
    } finally {
      await updateTenantSettings(database.db, tenantId, { concurrentTurns: null });
    }
  });
});
