import { randomUUID } from 'node:crypto';
import type { NewEvent } from '@parley/contracts';

/** One stateful turn as the services record it: the user's message, its routing to the LLM, the reply (`question i` / `answer i`). */
export function turnEvents(i: number, tenantId = 'default'): NewEvent[] {
  const turnId = randomUUID();
  const metadata = { tenantId };
  return [
    { eventId: randomUUID(), type: 'UserMessageReceived', data: { turnId, text: `question ${i}`, requestedMode: 'auto' }, metadata },
    {
      eventId: randomUUID(),
      type: 'TurnRouted',
      data: { turnId, mode: 'stateful', route: 'llm', reason: 'session-default-stateful', features: {} },
      metadata,
    },
    {
      eventId: randomUUID(),
      type: 'AssistantReplied',
      data: {
        turnId,
        text: `answer ${i}`,
        model: 'm',
        usage: { promptTokens: 3, completionTokens: 2 },
        latencyMs: 1,
        contextMessages: 2,
        interrupted: null,
      },
      metadata,
    },
  ];
}
