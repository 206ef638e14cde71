import { routeTurn, type RouteInput } from './turn-routing.policy';
import { derivedId } from './ids';

const hit = { intent: 'card_arrival', confidence: 0.93, kbVersion: 3 };
const weak = { intent: 'card_arrival', confidence: 0.41, kbVersion: 3 };
const base: RouteInput = {
  policy: 'hybrid',
  requestedMode: 'auto',
  inSession: true,
  text: 'where is my card',
  match: hit,
  threshold: 0.7,
  history: { llmTurns: 0, lastTurn: null },
};
const given = (input: Partial<RouteInput>) => {
  const full: RouteInput = { ...base, ...input };
  return { then: (mode: string, route: string, reason: string) => expect(routeTurn(full)).toMatchObject({ mode, route, reason }) };
};

describe('routeTurn', () => {
  describe('without a session', () => {
    it('answers a confident match from the knowledge base', () =>
      given({ inSession: false, history: null }).then('stateless', 'faq', 'no-session-faq'));
    it('asks the LLM, with the request alone, below the threshold', () =>
      given({ inSession: false, match: weak, history: null }).then('stateless', 'llm', 'no-session-below-threshold'));
    it('asks the LLM when the tenant has no knowledge base', () =>
      given({ inSession: false, match: null, history: null }).then('stateless', 'llm', 'no-session'));
    it('stays stateless even if the client asks for stateful', () =>
      given({ inSession: false, requestedMode: 'stateful' }).then('stateless', 'faq', 'no-session-faq'));
  });

  describe('in a session, when the client forces a mode', () => {
    it('honours stateful', () => given({ requestedMode: 'stateful' }).then('stateful', 'llm', 'client-forced-stateful'));
    it('honours stateless, still using the knowledge base when confident', () =>
      given({ requestedMode: 'stateless' }).then('stateless', 'faq', 'client-forced-stateless-faq'));
    it('honours stateless with the LLM below the threshold', () =>
      given({ requestedMode: 'stateless', match: weak }).then('stateless', 'llm', 'client-forced-stateless-below-threshold'));
  });

  describe('in a session, hybrid', () => {
    it('answers a confident first question statelessly', () => given({}).then('stateless', 'faq', 'faq-confident'));
    it('goes stateful without a knowledge base', () => given({ match: null }).then('stateful', 'llm', 'session-default-stateful'));
    it('goes stateful below the threshold', () => given({ match: weak }).then('stateful', 'llm', 'faq-below-threshold'));
    it('keeps an ongoing case stateful', () =>
      given({ history: { llmTurns: 2, lastTurn: { route: 'llm', intent: null } } }).then('stateful', 'llm', 'open-case'));
    it('escalates when the FAQ answer did not help', () =>
      given({
        text: "that didn't help, my card is still not here",
        history: { llmTurns: 0, lastTurn: { route: 'faq', intent: 'pin_blocked' } },
      }).then('stateful', 'llm', 'faq-did-not-help'));
    it('escalates when the user asks the same thing again', () =>
      given({ history: { llmTurns: 0, lastTurn: { route: 'faq', intent: 'card_arrival' } } }).then('stateful', 'llm', 'faq-did-not-help'));
    it('treats a question leaning on the previous turn as a follow-up', () =>
      given({ text: 'and what if it never arrives', history: { llmTurns: 0, lastTurn: { route: 'faq', intent: 'pin_blocked' } } }).then(
        'stateful',
        'llm',
        'follow-up',
      ));
    it('answers a new, self-contained question after an FAQ answer statelessly', () =>
      given({ text: 'how long does delivery take', history: { llmTurns: 0, lastTurn: { route: 'faq', intent: 'pin_blocked' } } }).then(
        'stateless',
        'faq',
        'faq-confident',
      ));

    describe('a follow-up read with what the user said before it', () => {
      const afterTransfer = {
        llmTurns: 0,
        lastTurn: { route: 'faq' as const, intent: 'transfer_into_account' },
        previousText: 'I want to send money to Spain',
      };
      const fee = {
        text: "what's the fee?",
        history: afterTransfer,
        match: { intent: 'card_payment_fee_charged', confidence: 0.78, kbVersion: 3 },
      };
      it('goes to the LLM with the conversation when, after the turn before, it means something else, more surely', () =>
        given({ ...fee, contextMatch: { intent: 'transfer_fee_charged', confidence: 0.95, kbVersion: 3 } }).then(
          'stateful',
          'llm',
          'follow-up-in-context',
        ));
      it('records what it means in context', () =>
        expect(
          routeTurn({ ...base, ...fee, contextMatch: { intent: 'transfer_fee_charged', confidence: 0.95, kbVersion: 3 } }).features,
        ).toMatchObject({
          intent: 'card_payment_fee_charged',
          contextIntent: 'transfer_fee_charged',
        }));
      it('is answered from the knowledge base when the turn before does not change what it asks', () =>
        given({ ...fee, contextMatch: { intent: 'card_payment_fee_charged', confidence: 0.9, kbVersion: 3 } }).then(
          'stateless',
          'faq',
          'faq-confident',
        ));
      it('is a new question of its own (a change of topic) when it is surer alone than in context', () =>
        given({
          ...fee,
          match: { intent: 'activate_my_card', confidence: 0.97, kbVersion: 3 },
          contextMatch: { intent: 'transfer_into_account', confidence: 0.6, kbVersion: 3 },
        }).then('stateless', 'faq', 'faq-confident'));
    });
  });

  describe("in a session, under the tenant's fixed policy", () => {
    it('stateful answers even a confident FAQ question with history', () =>
      given({ policy: 'stateful' }).then('stateful', 'llm', 'tenant-policy-stateful'));
    it('stateless answers from the knowledge base when confident', () =>
      given({ policy: 'stateless', history: null }).then('stateless', 'faq', 'tenant-policy-stateless-faq'));
    it('stateless asks the LLM with the request alone otherwise, even in an open case', () =>
      given({ policy: 'stateless', match: weak, history: { llmTurns: 3, lastTurn: { route: 'llm', intent: null } } }).then(
        'stateless',
        'llm',
        'tenant-policy-stateless-below-threshold',
      ));
    it('tool results sent back continue their turn with the history, whatever the policy', () => {
      for (const policy of ['stateless', 'hybrid', 'stateful'] as const)
        given({ policy, text: '', match: null, toolResults: true }).then('stateful', 'llm', 'tool-results');
    });
    it('a client forcing a mode still wins over the policy', () => {
      given({ policy: 'stateless', requestedMode: 'stateful' }).then('stateful', 'llm', 'client-forced-stateful');
      given({ policy: 'stateful', requestedMode: 'stateless' }).then('stateless', 'faq', 'client-forced-stateless-faq');
    });
  });

  it('records the match and the signals it used', () => {
    expect(
      routeTurn({
        policy: 'hybrid',
        requestedMode: 'auto',
        inSession: true,
        text: 'x',
        match: hit,
        threshold: 0.7,
        history: { llmTurns: 1, lastTurn: { route: 'llm', intent: null } },
      }).features,
    ).toEqual({
      policy: 'hybrid',
      requestedMode: 'auto',
      inSession: true,
      intent: 'card_arrival',
      confidence: 0.93,
      kbVersion: 3,
      threshold: 0.7,
      llmTurns: 1,
      lastRoute: 'llm',
    });
  });
});

describe('derivedId', () => {
  it('is a stable UUID per parent and purpose', () => {
    const id = derivedId('e1', 'TurnRouted');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(derivedId('e1', 'TurnRouted')).toBe(id);
    expect(derivedId('e1', 'AssistantReplied')).not.toBe(id);
    expect(derivedId('e2', 'TurnRouted')).not.toBe(id);
  });
});
