/** Event subjects: who acts on an event is in its subject, so a consumer's one filter gets it only those. */
import { audienceOf, eventFilter, eventSubject, shardOf, streamEventsSubject } from './subjects';

const tenantId = 'acme';
const on = (streamId: string, type: string, data: object = {}, metadata: object = {}) =>
  ({ streamId, type, data, metadata: { tenantId, ...metadata } }) as Parameters<typeof audienceOf>[0];

/** NATS subject matching: `*` one token, `>` the rest. */
function matches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length || (f[i] !== '*' && f[i] !== s[i])) return false;
  }
  return f.length === s.length;
}

describe('event subjects', () => {
  it('name the service that acts on each event', () => {
    expect(audienceOf(on('session-1', 'UserMessageReceived'))).toBe('route');
    expect(audienceOf(on('turn-1', 'UserMessageReceived'))).toBe('route');
    expect(audienceOf(on('session-1', 'UserMessageReceived', {}, { routed: true }))).toBe('answer'); // ingress routed it: the responder folds it
    expect(audienceOf(on('turn-1', 'UserMessageReceived', {}, { routed: true, replyTo: 'px.replies.i1' }))).toBe('answer'); // sessionless, waited on: for the LLM
    expect(audienceOf(on('turn-1', 'UserMessageReceived', {}, { routed: true }))).toBe('log'); // sessionless, answered from the knowledge base as it was recorded
    expect(audienceOf(on('session-1', 'TurnRouted', { route: 'llm' }))).toBe('answer');
    expect(audienceOf(on('turn-1', 'TurnRouted', { route: 'llm' }))).toBe('answer');
    expect(audienceOf(on('session-1', 'TurnRouted', { route: 'faq' }))).toBe('log'); // answered from the knowledge base already
    for (const type of [
      'SessionStarted',
      'AssistantReplied',
      'TurnFailed',
      'ReplyInterrupted',
      'ConversationSummarized',
      'SessionExpired',
      'SessionForked',
    ]) {
      expect([type, audienceOf(on('session-1', type))]).toEqual([type, 'state']);
    }
    expect(audienceOf(on('turn-1', 'AssistantReplied'))).toBe('log'); // a sessionless turn has no read model
    expect(audienceOf(on('user-abc', 'MemoryRemembered'))).toBe('log');
  });

  it('are filtered per audience (and shard), and watched per stream', () => {
    const replied = on('session-1', 'AssistantReplied');
    const subject = eventSubject('px', replied);
    const shard = shardOf('session-1');
    expect(subject).toBe(`px.events.${shard}.acme.session-1.AssistantReplied.state`);
    expect(matches(eventFilter('px', 'state'), subject)).toBe(true);
    expect(matches(eventFilter('px', 'answer'), subject)).toBe(false);
    expect(matches(eventFilter('px', 'state', shard), subject)).toBe(true);
    expect(matches(eventFilter('px', 'state', (shard + 1) % 16), subject)).toBe(false);
    expect(matches(eventFilter('px'), subject)).toBe(true);
    expect(matches(streamEventsSubject('px', tenantId, 'session-1'), subject)).toBe(true);
    expect(matches(streamEventsSubject('px', tenantId, 'session-2'), subject)).toBe(false);
  });

  it('refuse a tenant or stream id that is not a subject token', () => {
    expect(() => eventSubject('px', on('session-1.x', 'AssistantReplied'))).toThrow(
      /stream id "session-1.x" is not a valid NATS subject token/,
    );
    expect(() => eventSubject('px', { ...on('session-1', 'AssistantReplied'), metadata: { tenantId: 'a b' } })).toThrow(/tenant id/);
  });
});
