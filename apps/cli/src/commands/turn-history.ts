import { sessionStreamId, userStreamId, type RecordedEvent } from '@parley/contracts';
import { foldUserMemory, memoryMessage, rebuiltContext, type RebuiltContext, type RecordedTurn } from '@parley/conversation';
import type { EventStore } from '@parley/event-store';
import { CliError } from '../cli-error';

export { recordedTurns, type RebuiltContext, type RecordedTurn } from '@parley/conversation';

/** Accepts `<uuid>` or `session-<uuid>`. */
export const normalizeSessionId = (id: string) => id.replace(/^session-/, '');

/** A session's events, read for the tenant (another tenant's session is not found). */
export async function sessionEvents(store: EventStore, sessionId: string, tenantId: string): Promise<RecordedEvent[]> {
  const id = normalizeSessionId(sessionId);
  const events = await store.readStream(sessionStreamId(id));
  if (events.length === 0 || events[0].metadata.tenantId !== tenantId) throw new CliError(`Session ${id} not found in tenant ${tenantId}`);
  return events;
}

/** A user's memory as it stood before a point of the global log (what a turn routed there could see). */
export async function memoryBefore(store: EventStore, tenantId: string, userId: string, globalPosition: string): Promise<string | null> {
  const events = await store.readStream(userStreamId(tenantId, userId));
  return memoryMessage(foldUserMemory(events.filter((e) => BigInt(e.globalPosition) < BigInt(globalPosition))));
}

/**
 * What the LLM was given for a turn, rebuilt from the log (`rebuiltContext`, the responder's own
 * code) with the user's memory as it stood then, and checked against the fingerprint recorded
 * with the reply.
 */
export async function rebuildContext(store: EventStore, turn: RecordedTurn, systemPrompt: string): Promise<RebuiltContext | null> {
  if (!turn.routed || turn.routed.data.route !== 'llm') return null;
  const state = turn.stateAtReply;
  const userId = state.status === 'open' ? state.userId : null;
  const memory = userId && turn.routed.data.mode === 'stateful' ? await memoryBefore(store, turn.message.metadata.tenantId, userId, turn.routed.globalPosition) : null;
  return rebuiltContext(turn, systemPrompt, memory);
}
