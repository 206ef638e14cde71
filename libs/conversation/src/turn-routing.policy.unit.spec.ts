import { routeTurn } from './turn-routing.policy';
import { derivedId } from './ids';

describe('routeTurn', () => {
  it.each([
    [{ requestedMode: 'auto', inSession: false }, { mode: 'stateless', reason: 'no-session' }],
    [{ requestedMode: 'stateful', inSession: false }, { mode: 'stateless', reason: 'no-session' }],
    [{ requestedMode: 'auto', inSession: true }, { mode: 'stateful', reason: 'session-default-stateful' }],
    [{ requestedMode: 'stateful', inSession: true }, { mode: 'stateful', reason: 'client-forced-stateful' }],
    [{ requestedMode: 'stateless', inSession: true }, { mode: 'stateless', reason: 'client-forced-stateless' }],
  ] as const)('given %j routes %j', (input, expected) => {
    expect(routeTurn(input)).toEqual({ ...expected, route: 'llm', features: { requestedMode: input.requestedMode, inSession: input.inSession } });
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
