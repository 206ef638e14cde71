import type { NewEvent, RecordedEvent } from '@parley/contracts';

/** What the agent knows about a user, across sessions. */
export interface UserMemory {
  facts: Record<string, { value: string; source: 'llm' | 'api'; updatedAt: string }>;
}

export const initialUserMemory = (): UserMemory => ({ facts: {} });

/** Folds a user stream's events; other events leave it unchanged. */
export function evolveUserMemory(state: UserMemory, event: RecordedEvent): UserMemory {
  switch (event.type) {
    case 'MemoryRemembered':
      return {
        facts: { ...state.facts, [event.data.name]: { value: event.data.value, source: event.data.source, updatedAt: event.recordedAt } },
      };
    case 'MemoryForgotten': {
      const { [event.data.name]: _gone, ...rest } = state.facts;
      return { facts: rest };
    }
    default:
      return state;
  }
}

export const foldUserMemory = (events: readonly RecordedEvent[]): UserMemory => events.reduce(evolveUserMemory, initialUserMemory());

/** The system message that gives a stateful turn what is known about the user (null when nothing is). */
export function memoryMessage(memory: UserMemory): string | null {
  const facts = Object.entries(memory.facts);
  if (facts.length === 0) return null;
  return `What you know about this user from earlier conversations:\n${facts.map(([name, f]) => `- ${name}: ${f.value}`).join('\n')}`;
}

/** Facts about a user set through the API (`PUT /v1/users/{id}/memory`): one event each, replacing any of the same name. */
export const rememberedByApi = (tenantId: string, facts: Record<string, string>, newId: () => string): NewEvent<'MemoryRemembered'>[] =>
  Object.entries(facts).map(([name, value]) => ({
    eventId: newId(),
    type: 'MemoryRemembered',
    data: { name, value, source: 'api', turnId: null },
    metadata: { tenantId },
  }));

/** A fact forgotten through the API; `undefined` when the memory holds no such fact (nothing to record). */
export function forgottenByApi(
  memory: UserMemory,
  tenantId: string,
  name: string,
  newId: () => string,
): NewEvent<'MemoryForgotten'> | undefined {
  if (!Object.hasOwn(memory.facts, name)) return undefined;
  return { eventId: newId(), type: 'MemoryForgotten', data: { name, source: 'api' }, metadata: { tenantId } };
}
