import type { RecordedEvent } from '@parley/contracts';
import * as o200k from 'gpt-tokenizer/encoding/o200k_base';
import { chatMessage, statefulContext } from './llm-context';
import { eventRecorder } from './recorded-events';
import { foldSession, RECENT_TURNS, routingHistory, type OpenSession, type SessionState } from './session.state';
import { planSummary, summaryPrompt, summaryShare, SUMMARY_INSTRUCTIONS, type SummaryRequest } from './summary.policy';
import { contextTokens, countTokens, cutToTokens, TOKEN_COUNTS_KEPT, tokenCountsKept } from './tokens';

const stream = eventRecorder();
const recorded = stream.record;

/** One stateful turn; every message is about 12 tokens. */
const turn = (i: number, answered = true) => [
  recorded('UserMessageReceived', {
    turnId: `t${i}`,
    text: `Question number ${i}: could you check the order status for me?`,
    requestedMode: 'auto',
  }),
  recorded('TurnRouted', { turnId: `t${i}`, mode: 'stateful', route: 'llm', reason: 'session-default-stateful', features: {} }),
  ...(answered ? [reply(i)] : []),
];
const reply = (i: number) =>
  recorded('AssistantReplied', {
    turnId: `t${i}`,
    text: `Answer number ${i}: your order is on its way today.`,
    model: 'm',
    usage: null,
    latencyMs: 1,
    contextMessages: 1,
    interrupted: null,
  });

/** A session of `turns` answered stateful turns. */
function conversation(turns: number): RecordedEvent[] {
  stream.reset();
  const events = [recorded('SessionStarted', { sessionId: 's1', userId: null, metadata: {} })];
  for (let i = 1; i <= turns; i++) events.push(...turn(i));
  return events;
}

const open = (state: SessionState) => state as OpenSession;
const window = (state: SessionState, turnId: string, budget: number) =>
  statefulContext({ state, turnId, systemPrompt: 'Be brief.', memory: null, budget });
const summarized = (request: SummaryRequest, turnId: string, text: string): RecordedEvent =>
  recorded('ConversationSummarized', {
    turnId,
    summary: text,
    throughVersion: request.throughVersion,
    summarizedMessages: request.summarizedMessages,
    model: 'm',
    usage: { promptTokens: 100, completionTokens: 20 },
  });

describe('token counts', () => {
  it('count real tokens plus the chat format overhead', () => {
    expect(contextTokens([{ role: 'user', content: 'Hello, I would like to book a table for two.' }])).toBe(3 + 4 + 12);
    expect(contextTokens([])).toBe(3);
  });

  it('are kept by text, the same as counting afresh, and no more than they should be', () => {
    const text = 'Could you move my booking to Thursday at seven, please?';
    const first = countTokens(text);
    expect(first).toBe(o200k.countTokens(text));
    expect(countTokens(text)).toBe(first);
    for (let i = 0; i < TOKEN_COUNTS_KEPT + 50; i++) countTokens(`message ${i}`);
    expect(tokenCountsKept()).toBe(TOKEN_COUNTS_KEPT);
    expect(countTokens(text)).toBe(first); // dropped as the oldest, counted again
  });

  it('are exact for ordinary long text and quick for a huge single word (the tokenizer is quadratic in a run without spaces)', () => {
    const prose = 'The customer asked about the card delivery and the branch opening hours on Saturday. '.repeat(40);
    expect(countTokens(prose)).toBe(o200k.countTokens(prose));
    const word = 'x'.repeat(700_000) + '中'.repeat(30_000);
    const started = process.hrtime.bigint();
    const n = countTokens(word);
    const took = Number(process.hrtime.bigint() - started) / 1e6;
    expect(n).toBeGreaterThan(700_000 / 256);
    // bounded in time: far from the minutes the whole word took (a generous bound, not a benchmark)
    expect(took).toBeLessThan(20_000);
  });

  it('cut a text to at most so many whole tokens', () => {
    const text = 'one two three four five six seven eight nine ten';
    expect(cutToTokens(text, 100)).toBe(text);
    const cut = cutToTokens(text, 4);
    expect(countTokens(cut)).toBe(4);
    expect(text.startsWith(cut)).toBe(true);
  });
});

describe('the context of a stateful turn', () => {
  it('given a transcript within budget, is the whole transcript', () => {
    const { state } = foldSession(conversation(3).slice(0, -1));
    const { context, dropped, tokens } = window(state, 't3', 10_000);
    expect(context).toHaveLength(1 + 5);
    expect(dropped).toBe(0);
    expect(tokens).toBe(contextTokens(context));
  });

  it('past the budget, is the summary that exists plus the most recent whole turns that fit', () => {
    const { state } = foldSession(conversation(20).slice(0, -1)); // turn 20 not yet answered
    const { context, dropped, tokens } = window(state, 't20', 150);
    expect(tokens).toBeLessThanOrEqual(150);
    expect(dropped).toBeGreaterThan(0);
    expect(context[1]).toMatchObject({ role: 'user' }); // whole turns: the kept part starts with a question
    expect(context.at(-1)).toEqual({ role: 'user', content: 'Question number 20: could you check the order status for me?' });
    expect(context.at(-2)).toEqual({ role: 'assistant', content: 'Answer number 19: your order is on its way today.' });
  });

  it('keeps the turn’s own message even when it alone is over the budget', () => {
    stream.reset();
    const events = [
      recorded('SessionStarted', { sessionId: 's1', userId: null, metadata: {} }),
      recorded('UserMessageReceived', { turnId: 't1', text: 'word '.repeat(500), requestedMode: 'auto' }),
    ];
    const { context, dropped } = window(foldSession(events).state, 't1', 200);
    expect(context).toHaveLength(2);
    expect(dropped).toBe(0);
  });
});

describe('the summary after a reply', () => {
  it('is not due while the transcript is within half the budget', () => {
    const { state } = foldSession(conversation(3));
    expect(planSummary(state, 10_000)).toBeNull();
  });

  it('folds all but the recent messages within a quarter of the budget, cut before a user message', () => {
    const { state } = foldSession(conversation(20));
    const request = planSummary(state, 300)!;
    expect(request.previous).toBeNull();
    expect(request.messages[0].text).toMatch(/^Question number 1:/);
    expect(request.messages.at(-1)!.role).toBe('assistant');
    expect(request.summarizedMessages).toBe(request.messages.length);
    expect(request.throughVersion).toBe(request.messages.at(-1)!.version);
    const kept = open(state).messages.filter((m) => m.version > request.throughVersion);
    expect(kept[0].role).toBe('user');
    expect(contextTokens(kept.map(chatMessage))).toBeLessThanOrEqual(75 + 3);
  });

  it('never covers a message of a turn that has no outcome yet', () => {
    const events = conversation(12);
    // turn 13 is still waiting for its route when seven knowledge base answers follow it
    events.push(...turn(13, false).slice(0, 1));
    for (let i = 14; i <= 20; i++) events.push(...turn(i));
    const asked13 = events.find((e) => e.type === 'UserMessageReceived' && e.data.turnId === 't13')!;
    const request = planSummary(foldSession(events).state, 300)!;
    expect(request).not.toBeNull();
    expect(request.messages.some((m) => m.turnId === 't13')).toBe(false);
    expect(request.throughVersion).toBeLessThan(asked13.version);
    // the most recent messages alone would have left turn 13's message to the summary
    expect(request.messages.at(-1)!.turnId).toBe('t12');
  });

  it('once written, leaves a context of the summary and the recent turns, under budget', () => {
    const events = conversation(20);
    let { state } = foldSession(events);
    const request = planSummary(state, 300)!;
    state = foldSession([summarized(request, 't20', 'The user asked about 15 orders.')], { state, version: events.length }).state;
    stream.reset(events.length + 1);
    const next = foldSession(turn(21, false), { state, version: events.length + 1 }).state;
    const { context, dropped, tokens } = window(next, 't21', 300);
    expect(dropped).toBe(0);
    expect(context[1]).toEqual({ role: 'system', content: 'Summary of the earlier conversation:\nThe user asked about 15 orders.' });
    expect(tokens).toBeLessThanOrEqual(300);
    expect(planSummary(state, 300)).toBeNull(); // not due again straight away
  });

  it('a later summary folds the previous one in and counts both', () => {
    const events = conversation(20);
    const first = planSummary(foldSession(events).state, 300)!;
    events.push(summarized(first, 't20', 'first summary'));
    for (let i = 21; i <= 40; i++) events.push(...turn(i));
    const second = planSummary(foldSession(events).state, 300)!;
    expect(second.previous).toBe('first summary');
    expect(second.messages[0].version).toBeGreaterThan(first.throughVersion);
    expect(second.summarizedMessages).toBe(first.summarizedMessages + second.messages.length);
    expect(summaryPrompt(second)[1].content).toMatch(/^Previous summary:\nfirst summary\n\nNew messages:\nUser: Question number/);
    expect(summaryPrompt(second)[0].content).toBe(SUMMARY_INSTRUCTIONS);
    expect(summaryShare(6_000)).toBe(1_500);
  });
});

describe('bounded session state', () => {
  it('a summary drops the messages it covers and adds its tokens to the stateful usage', () => {
    const events = conversation(10);
    const after = foldSession([
      ...events,
      recorded('ConversationSummarized', {
        turnId: 't10',
        summary: 's',
        throughVersion: 16,
        summarizedMessages: 10,
        model: 'm',
        usage: { promptTokens: 7, completionTokens: 3 },
      }),
    ]).state as OpenSession;
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
    const { state } = foldSession(conversation(RECENT_TURNS + 10));
    expect(routingHistory(state, `t${RECENT_TURNS + 10}`).llmTurns).toBe(RECENT_TURNS + 9);
    expect(routingHistory(state, 't20').llmTurns).toBe(19);
  });
});
