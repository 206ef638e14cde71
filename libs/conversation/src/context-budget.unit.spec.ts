import type { RecordedEvent } from '@parley/contracts';
import * as o200k from 'gpt-tokenizer/encoding/o200k_base';
import { eventRecorder } from './recorded-events';
import { contextTokens, countTokens, planStatefulContext, TOKEN_COUNTS_KEPT, tokenCountsKept, summaryPrompt, SUMMARY_INSTRUCTIONS, type ContextPlan } from './context-budget';
import { foldSession, RECENT_TURNS, routingHistory, type OpenSession, type SessionState } from './session.state';
import { chatMessage } from './llm-context';

const stream = eventRecorder();
const recorded = stream.record;

/** One stateful turn; every message is about 12 tokens. */
const turn = (i: number, answered = true) => [
  recorded('UserMessageReceived', { turnId: `t${i}`, text: `Question number ${i}: could you check the order status for me?`, requestedMode: 'auto' }),
  recorded('TurnRouted', { turnId: `t${i}`, mode: 'stateful', route: 'llm', reason: 'session-default-stateful', features: {} }),
  ...(answered
    ? [recorded('AssistantReplied', { turnId: `t${i}`, text: `Answer number ${i}: your order is on its way today.`, model: 'm', usage: null, latencyMs: 1, contextMessages: 1, interrupted: null })]
    : []),
];

/** A session of `turns` answered stateful turns. */
function conversation(turns: number): RecordedEvent[] {
  stream.reset();
  const events = [recorded('SessionStarted', { sessionId: 's1', userId: null, metadata: {} })];
  for (let i = 1; i <= turns; i++) events.push(...turn(i));
  return events;
}

const open = (state: SessionState) => state as OpenSession;
const input = (state: SessionState, turnId: string, budget: number) => ({ state, turnId, systemPrompt: 'Be brief.', memory: null, budget });

function summarized(request: Extract<ContextPlan, { kind: 'summarize' }>['request'], turnId: string, text: string): RecordedEvent {
  return recorded('ConversationSummarized', {
    turnId,
    summary: text,
    throughVersion: request.throughVersion,
    summarizedMessages: request.summarizedMessages,
    model: 'm',
    usage: { promptTokens: 100, completionTokens: 20 },
  });
}

describe('contextTokens', () => {
  it('counts real tokens plus the chat format overhead', () => {
    expect(contextTokens([{ role: 'user', content: 'Hello, I would like to book a table for two.' }])).toBe(3 + 4 + 12);
    expect(contextTokens([])).toBe(3);
  });

  it('keeps counts by text, the same as counting afresh, and no more than it should', () => {
    const text = 'Could you move my booking to Thursday at seven, please?';
    const first = countTokens(text);
    expect(first).toBe(o200k.countTokens(text));
    expect(countTokens(text)).toBe(first);
    for (let i = 0; i < TOKEN_COUNTS_KEPT + 50; i++) countTokens(`message ${i}`);
    expect(tokenCountsKept()).toBe(TOKEN_COUNTS_KEPT);
    expect(countTokens(text)).toBe(first); // dropped as the oldest, counted again
    expect(countTokens('message 19999')).toBe(o200k.countTokens('message 19999'));
  });
});

describe('planStatefulContext', () => {
  it('given a transcript within budget, the context is the whole transcript', () => {
    const events = conversation(3);
    const { state } = foldSession(events);
    const plan = planStatefulContext(input(state, 't3', 10_000));
    expect(plan.kind).toBe('ready');
    if (plan.kind === 'ready') {
      expect(plan.context).toHaveLength(1 + 5);
      expect(plan.tokens).toBe(contextTokens(plan.context));
    }
  });

  it('given a transcript over budget, asks to fold the older turns, keeping recent ones within half the budget', () => {
    const { state } = foldSession(conversation(20).slice(0, -2)); // turn 20 received, not yet answered
    const plan = planStatefulContext(input(state, 't20', 300));
    expect(plan.kind).toBe('summarize');
    if (plan.kind !== 'summarize') return;
    const { request } = plan;
    expect(request.previous).toBeNull();
    expect(request.messages[0].text).toMatch(/^Question number 1:/);
    expect(request.messages.at(-1)!.role).toBe('assistant'); // the cut falls before a user message
    expect(request.summarizedMessages).toBe(request.messages.length);
    expect(request.throughVersion).toBe(request.messages.at(-1)!.version);
    const keptMessages = open(state).messages.filter((m) => m.version > request.throughVersion);
    expect(keptMessages[0].role).toBe('user');
    expect(contextTokens([{ role: 'system', content: 'Be brief.' }, ...keptMessages.map(chatMessage)])).toBeLessThanOrEqual(150);
  });

  it('once summarized, the context is the summary and the recent turns, under budget', () => {
    const events = conversation(20).slice(0, -2);
    let { state } = foldSession(events);
    const plan = planStatefulContext(input(state, 't20', 300));
    if (plan.kind !== 'summarize') throw new Error('expected a summary request');
    state = foldSession([summarized(plan.request, 't20', 'The user asked about 15 orders.')], { state, version: events.length }).state;
    const next = planStatefulContext(input(state, 't20', 300));
    expect(next.kind).toBe('ready');
    if (next.kind !== 'ready') return;
    expect(next.context[1]).toEqual({ role: 'system', content: 'Summary of the earlier conversation:\nThe user asked about 15 orders.' });
    expect(next.context.at(-1)).toEqual({ role: 'user', content: 'Question number 20: could you check the order status for me?' });
    expect(next.tokens).toBeLessThanOrEqual(300);
    expect(open(state).summary).toEqual({ text: 'The user asked about 15 orders.', throughVersion: plan.request.throughVersion, messages: plan.request.summarizedMessages });
  });

  it('a later summary folds the previous one in and covers the count of both', () => {
    const events = conversation(18);
    events.push(...turn(19, false));
    const first = planStatefulContext(input(foldSession(events).state, 't19', 300));
    if (first.kind !== 'summarize') throw new Error('expected a summary request');
    events.push(summarized(first.request, 't19', 'first summary'));
    for (let i = 19; i <= 38; i++) events.push(...(i === 19 ? [] : turn(i)));
    events.push(...turn(39, false));
    const second = planStatefulContext(input(foldSession(events).state, 't39', 300));
    if (second.kind !== 'summarize') throw new Error('expected a second summary request');
    expect(second.request.previous).toBe('first summary');
    expect(second.request.messages[0].version).toBeGreaterThan(first.request.throughVersion);
    expect(second.request.summarizedMessages).toBe(first.request.summarizedMessages + second.request.messages.length);
    expect(summaryPrompt(second.request)[1].content).toMatch(/^Previous summary:\nfirst summary\n\nNew messages:\nUser: Question number/);
    expect(summaryPrompt(second.request)[0].content).toBe(SUMMARY_INSTRUCTIONS);
  });

  it('when only the turn itself is over budget, there is nothing to fold and the context goes as it is', () => {
    stream.reset();
    const events = [
      recorded('SessionStarted', { sessionId: 's1', userId: null, metadata: {} }),
      recorded('UserMessageReceived', { turnId: 't1', text: 'word '.repeat(500), requestedMode: 'auto' }),
    ];
    const plan = planStatefulContext(input(foldSession(events).state, 't1', 200));
    expect(plan.kind).toBe('ready');
  });
});

describe('bounded session state', () => {
  it('a summary drops the messages it covers and adds its tokens to the stateful usage', () => {
    const events = conversation(10);
    const { state } = foldSession(events);
    const plan = planStatefulContext(input(state, 't10', 10_000));
    expect(plan.kind).toBe('ready');
    const after = foldSession([...events, recorded('ConversationSummarized', {
      turnId: 't10', summary: 's', throughVersion: 16, summarizedMessages: 10, model: 'm', usage: { promptTokens: 7, completionTokens: 3 },
    })]).state as OpenSession;
    expect(after.messages[0].version).toBe(17); // turn 6's message: turns 1-5 end at v16
    expect(after.messages).toHaveLength(10);
    expect(after.usage.stateful).toEqual({ turns: 10, promptTokens: 7, completionTokens: 3 });
  });

  it(`keeps the last ${RECENT_TURNS} turn records and counts them all`, () => {
    const { state } = foldSession(conversation(RECENT_TURNS + 30));
    const session = open(state);
    expect(session.turns).toHaveLength(RECENT_TURNS);
    expect(session.turns[0].turnId).toBe('t31');
    expect(session.turnCount).toBe(RECENT_TURNS + 30);
    expect(session.llmTurns).toBe(RECENT_TURNS + 30);
  });

  it('routing history counts stateful LLM turns before the one routed, beyond the kept records', () => {
    const events = conversation(RECENT_TURNS + 10);
    const { state } = foldSession(events);
    expect(routingHistory(state, `t${RECENT_TURNS + 10}`).llmTurns).toBe(RECENT_TURNS + 9);
    expect(routingHistory(state, 't20').llmTurns).toBe(19);
  });
});
