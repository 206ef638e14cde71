import { randomUUID } from 'node:crypto';
import { sessionStreamId, type RecordedEvent } from '@parley/contracts';
import { foldSession, forked, type OpenSession } from '@parley/conversation';
import { StreamErasedError, StreamNotFoundError } from './errors';
import type { EventStore } from './event-store';

/** The version to fork at is not one of the session's. */
export class ForkVersionError extends Error {
  override readonly name = 'ForkVersionError';
  readonly code = 'SESSION.FORK_VERSION';
  constructor(
    readonly sessionId: string,
    readonly atVersion: number,
    readonly latest: number,
  ) {
    super(`Session ${sessionId} has versions 1 to ${latest}; cannot fork at ${atVersion}`);
  }
}

export interface ForkedSession {
  sessionId: string;
  /** The version of the original the fork starts from. */
  atVersion: number;
  /** `SessionStarted` and `SessionForked` of the new session, to publish. */
  events: RecordedEvent[];
}

/** A session's state as it was at a version of its stream, folded from the log. */
export async function sessionStateAt(store: EventStore, sessionId: string, version: number): Promise<OpenSession> {
  const streamId = sessionStreamId(sessionId);
  const { state } = foldSession(await store.readStream(streamId, { upTo: version }));
  if (state.status !== 'open') throw new StreamNotFoundError(streamId);
  return state;
}

/**
 * Starts a new session that continues `sessionId` as it stood at `atVersion` (default: its latest
 * version): the same user and metadata, and the conversation up to there — summary and messages —
 * copied into its `SessionForked` event. The original is only read; the copy is sealed with a key
 * of its own, owned by the same user, so erasing the user erases both.
 */
export async function forkSession(
  store: EventStore,
  tenantId: string,
  sessionId: string,
  options: { atVersion?: number; newSessionId?: string; correlationId?: string } = {},
): Promise<ForkedSession> {
  const streamId = sessionStreamId(sessionId);
  const info = await store.streamInfo(streamId);
  if (!info || info.tenantId !== tenantId) throw new StreamNotFoundError(streamId);
  if (info.erased) throw new StreamErasedError(streamId);
  const atVersion = options.atVersion ?? info.version;
  if (!Number.isInteger(atVersion) || atVersion < 1 || atVersion > info.version)
    throw new ForkVersionError(sessionId, atVersion, info.version);
  const state = await sessionStateAt(store, sessionId, atVersion);
  const forkId = options.newSessionId ?? randomUUID();
  const events = await store.append(
    sessionStreamId(forkId),
    tenantId,
    forked(state, { sessionId, atVersion }, { sessionId: forkId, tenantId, correlationId: options.correlationId }, randomUUID),
    'no_stream',
    { newKey: { userId: state.userId } },
  );
  return { sessionId: forkId, atVersion, events };
}
