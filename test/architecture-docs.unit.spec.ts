/**
 * docs/architecture.md's table of events is true to the code: one row per event type, each with
 * the audiences `audienceOf` gives it, and every file it points a newcomer to exists.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { audienceOf, EVENT_TYPES, type EventType } from '@parley/contracts';

const root = join(__dirname, '..');
const doc = readFileSync(join(root, 'docs/architecture.md'), 'utf8');
const section = doc.slice(doc.indexOf('## Where each event goes'), doc.indexOf('## One process, or one per service'));
const rows = new Map(
  section
    .split('\n')
    .filter((line) => /^\| `[A-Za-z]+` \|/.test(line))
    .map((line) => {
      const cells = line.split(' | ').map((cell) => cell.replace(/^\| |\|$/g, '').trim());
      return [cells[0].replace(/`/g, ''), cells] as const;
    }),
);

/** The streams each event type is appended to: a user's for memory, a session's or a turn's of its own for a turn. */
const TURN_EVENTS = new Set<EventType>(['UserMessageReceived', 'TurnRouted', 'AssistantReplied', 'TurnFailed']);
const streamsOf = (type: EventType) =>
  type.startsWith('Memory') ? ['user-acme-u1'] : TURN_EVENTS.has(type) ? ['session-s1', 'turn-t1'] : ['session-s1'];

/** Every audience an event of the type can have, over the streams it goes to and the ways it is recorded. */
function audiencesOf(type: EventType): Set<string> {
  const seen = new Set<string>();
  for (const streamId of streamsOf(type))
    for (const routed of [false, true])
      for (const replyTo of [undefined, 'parley.replies.i1'])
        for (const route of ['faq', 'llm']) {
          const metadata = { tenantId: 'acme', ...(routed ? { routed } : {}), ...(replyTo ? { replyTo } : {}) };
          seen.add(audienceOf({ streamId, type, data: { route }, metadata }));
        }
  return seen;
}

describe('docs/architecture.md: where each event goes', () => {
  it('has one row per event type, and no other', () => {
    expect([...rows.keys()].sort()).toEqual([...EVENT_TYPES].sort());
  });

  it.each(EVENT_TYPES.map((type) => [type]))('names the audiences %s is published with', (type) => {
    const cell = rows.get(type)![2];
    const documented = new Set([...cell.matchAll(/`([a-z]+)`/g)].map((m) => m[1]));
    expect(documented).toEqual(audiencesOf(type));
  });

  it('points only at files that exist', () => {
    const paths = [...section.matchAll(/`((?:apps|libs)\/[\w./-]+\.ts)`/g)].map((m) => m[1]);
    expect(paths.length).toBeGreaterThan(8);
    for (const path of paths) expect([path, existsSync(join(root, path))]).toEqual([path, true]);
  });
});
