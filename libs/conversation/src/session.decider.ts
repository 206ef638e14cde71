import type { NewEvent } from '@parley/contracts';
import type { OpenSession } from './session.state';

/** Who a new session belongs to and what it carries, and how its events are correlated. */
export interface SessionOpening {
  sessionId: string;
  tenantId: string;
  userId: string | null;
  metadata: Record<string, unknown>;
  /** Defaults to the session's id. */
  correlationId?: string;
}

/** A session starts: its first event. */
export function started(opening: SessionOpening, newId: () => string): NewEvent<'SessionStarted'> {
  const { sessionId, tenantId, userId, metadata } = opening;
  return {
    eventId: newId(),
    type: 'SessionStarted',
    data: { sessionId, userId, metadata },
    metadata: { tenantId, correlationId: opening.correlationId ?? sessionId },
  };
}

/**
 * A new session continuing another as it stood at `atVersion` (`state`, folded up to there): the
 * same user and metadata, and the conversation so far — summary, messages, LLM turns — copied into
 * its `SessionForked`, so the fork's contexts need nothing of the original's stream.
 */
export function forked(
  state: OpenSession,
  from: { sessionId: string; atVersion: number },
  fork: { sessionId: string; tenantId: string; correlationId?: string },
  newId: () => string,
): [NewEvent<'SessionStarted'>, NewEvent<'SessionForked'>] {
  const first = started({ ...fork, userId: state.userId, metadata: state.metadata }, newId);
  return [
    first,
    {
      eventId: newId(),
      type: 'SessionForked',
      data: {
        fromSessionId: from.sessionId,
        atVersion: from.atVersion,
        summary: state.summary?.text ?? null,
        summarizedMessages: state.summary?.messages ?? 0,
        messages: state.messages.map(({ version: _version, ...message }) => message),
        llmTurns: state.llmTurns,
      },
      metadata: first.metadata,
    },
  ];
}
