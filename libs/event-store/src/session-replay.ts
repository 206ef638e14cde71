import { sql } from 'drizzle-orm';
import { sessionStreamId, userStreamId, type RecordedEvent } from '@parley/contracts';
import {
  foldSession,
  foldUserMemory,
  memoryMessage,
  rebuiltContext,
  recordedTurns,
  type RebuiltContext,
  type RecordedTurn,
  type SessionState,
} from '@parley/conversation';
import type { Db } from './database';
import { EventStoreError, EventStoreErrorCodes, StreamNotFoundError } from './errors';
import type { EventStore } from './event-store';
import { z } from 'zod';
import { Col, rowsOf } from './rows';

/**
 * What the replay CLI (`parley replay`, `rerun`, `sessions`) and the inspector page show of a
 * conversation, read from the log with the services' own folds: one implementation for both.
 */

/** Accepts `<uuid>` or `session-<uuid>`. */
export const normalizeSessionId = (id: string) => id.replace(/^session-/, '');

/** A session's events, read for the tenant (another tenant's session is not found). */
export async function sessionEvents(store: EventStore, sessionId: string, tenantId: string): Promise<RecordedEvent[]> {
  const streamId = sessionStreamId(normalizeSessionId(sessionId));
  const events = await store.readStream(streamId);
  if (events.length === 0 || events[0].metadata.tenantId !== tenantId) throw new StreamNotFoundError(streamId);
  return events;
}

/** A user's memory as it stood before a point of the global log (what a turn routed there could see). */
export async function memoryBefore(store: EventStore, tenantId: string, userId: string, globalPosition: string): Promise<string | null> {
  return memoryAt(await store.readStream(userStreamId(tenantId, userId)), globalPosition);
}

const memoryAt = (userEvents: readonly RecordedEvent[], globalPosition: string) =>
  memoryMessage(foldUserMemory(userEvents.filter((e) => BigInt(e.globalPosition) < BigInt(globalPosition))));

/** The user of the session a turn is in, when it has one and the turn was answered with its history. */
const statefulUser = (turn: RecordedTurn) =>
  turn.routed?.data.route === 'llm' && turn.routed.data.mode === 'stateful' && turn.stateAtReply.status === 'open'
    ? turn.stateAtReply.userId
    : null;

/**
 * What the LLM was given for a turn, rebuilt from the log (`rebuiltContext`, the responder's own
 * code) with the user's memory as it stood then, and checked against the fingerprint recorded
 * with the reply.
 */
export async function rebuildContext(store: EventStore, turn: RecordedTurn, systemPrompt: string): Promise<RebuiltContext | null> {
  if (!turn.routed || turn.routed.data.route !== 'llm') return null;
  const userId = statefulUser(turn);
  const memory = userId ? await memoryBefore(store, turn.message.metadata.tenantId, userId, turn.routed.globalPosition) : null;
  return rebuiltContext(turn, systemPrompt, memory);
}

/** One turn of a replay: what the user said, how it was routed and why, what the LLM was given, the reply. */
export interface ReplayedTurn {
  number: number;
  turnId: string;
  text: string;
  route: { mode: string; route: string; reason: string; features: Record<string, unknown> } | null;
  /** What the client asked of the model for this turn (model, temperature, max tokens, ...), if anything. */
  generation: Record<string, unknown> | null;
  context: (RebuiltContext & { matchesRecorded: boolean | null }) | null;
  reply: { text: string; model: string; interrupted: string | null; toolCalls: unknown[] } | null;
  /** What the LLM put in the user's memory during the turn (its `remember` tool). */
  remembered: { name: string; value: string }[];
  failure: { code: string; message: string } | null;
  usage: { promptTokens: number; completionTokens: number } | null;
  /** LLM time as the responder measured it, and from the user's message to the outcome in the log. */
  timings: { llmMs: number | null; turnMs: number | null };
}

/** A session as the log holds it up to a point: its events, each turn replayed, and the folded state. */
export interface SessionReplay {
  sessionId: string;
  /** The version shown (the latest unless `at` says otherwise). */
  version: number;
  latestVersion: number;
  events: RecordedEvent[];
  turns: ReplayedTurn[];
  state: SessionState;
}

export interface ReplayRequest {
  sessionId: string;
  /** Only sessions of this tenant are found. */
  tenantId: string;
  /** The state as of this stream version, or as of this time. */
  at?: number | Date;
  /** The responder's system prompt (PARLEY_SYSTEM_PROMPT), to rebuild contexts with. */
  systemPrompt: string;
}

/** `at` names no point of the session: a time before it started, or a version past its last. */
export class ReplayPointError extends EventStoreError {
  override readonly name = 'ReplayPointError';
  constructor(
    readonly sessionId: string,
    readonly at: number | Date,
    readonly latestVersion: number,
  ) {
    super(
      EventStoreErrorCodes.OutOfRange,
      at instanceof Date
        ? `${at.toISOString()} is before session ${sessionId} started`
        : `Version ${at} is outside session ${sessionId}, which has versions 1 to ${latestVersion}`,
    );
  }
}

/** Reads the session's events, folds them with the same `evolve` the services use, and rebuilds each turn's context. */
export async function replaySession(store: EventStore, request: ReplayRequest): Promise<SessionReplay> {
  const sessionId = normalizeSessionId(request.sessionId);
  const all = await sessionEvents(store, sessionId, request.tenantId);
  const latestVersion = all[all.length - 1].version;
  const atTime = request.at instanceof Date ? request.at.getTime() : null;
  const at =
    atTime !== null ? (all.filter((e) => Date.parse(e.recordedAt) <= atTime).at(-1)?.version ?? 0) : (request.at as number | undefined);
  if (at !== undefined && (at < 1 || at > latestVersion)) {
    throw new ReplayPointError(sessionId, request.at as number | Date, latestVersion);
  }
  const events = at === undefined ? all : all.filter((e) => e.version <= at);
  const { state, version } = foldSession(events);
  // the user's memory is read once: what each turn could see of it, and what each turn wrote to it
  const started = all.find((e): e is RecordedEvent<'SessionStarted'> => e.type === 'SessionStarted');
  const userId = started?.data.userId ?? null;
  const userEvents = userId ? await store.readStream(userStreamId(request.tenantId, userId)) : [];
  const turns = recordedTurns(events).map((turn) => replayedTurn(turn, request.systemPrompt, userEvents));
  return { sessionId, version, latestVersion, events, turns, state };
}

function replayedTurn(turn: RecordedTurn, systemPrompt: string, userEvents: readonly RecordedEvent[]): ReplayedTurn {
  const userId = statefulUser(turn);
  const context = turn.routed ? rebuiltContext(turn, systemPrompt, userId ? memoryAt(userEvents, turn.routed.globalPosition) : null) : null;
  const outcome = turn.outcome;
  const replied = outcome?.type === 'AssistantReplied' ? outcome : null;
  return {
    number: turn.number,
    turnId: turn.turnId,
    text: turn.message.data.text,
    route: turn.routed
      ? { mode: turn.routed.data.mode, route: turn.routed.data.route, reason: turn.routed.data.reason, features: turn.routed.data.features }
      : null,
    generation: turn.message.data.generation ?? null,
    context: context && { ...context, matchesRecorded: context.recorded === null ? null : context.recorded === context.digest },
    reply: replied && {
      text: replied.data.text,
      model: replied.data.model,
      interrupted: replied.data.interrupted,
      toolCalls: replied.data.toolCalls ?? [],
    },
    remembered: userEvents.flatMap((e) =>
      e.type === 'MemoryRemembered' && e.data.turnId === turn.turnId ? [{ name: e.data.name, value: e.data.value }] : [],
    ),
    failure: outcome?.type === 'TurnFailed' ? { code: outcome.data.code, message: outcome.data.message } : null,
    usage: replied?.data.usage ?? null,
    timings: {
      llmMs: replied && replied.data.model !== 'none' && !replied.data.model.startsWith('kb:') ? replied.data.latencyMs : null,
      turnMs: outcome ? Date.parse(outcome.recordedAt) - Date.parse(turn.message.recordedAt) : null,
    },
  };
}

/** One row of a tenant's session list. */
export interface SessionListing {
  sessionId: string;
  userId: string | null;
  turns: number;
  version: number;
  startedAt: string;
  lastActivityAt: string;
  status: 'live' | 'expired' | 'erased';
}

export interface SessionListQuery {
  tenantId: string;
  userId?: string;
  /** Only sessions active at or after this time. */
  since?: Date;
  limit: number;
}

/** A tenant's conversations, most recently active first. */
export async function listSessions(db: Pick<Db, 'execute'>, query: SessionListQuery): Promise<SessionListing[]> {
  const result = await db.execute(sql`
    select s.stream_id, s.user_id, s.version, s.created_at, s.updated_at, s.closed_at, s.erased_at,
           (select count(*)::int from events e where e.stream_id = s.stream_id and e.type = 'UserMessageReceived') as turns
    from streams s
    where s.tenant_id = ${query.tenantId} and s.stream_id like 'session-%'
      ${query.userId ? sql`and s.user_id = ${query.userId}` : sql``}
      ${query.since ? sql`and s.updated_at >= ${query.since.toISOString()}` : sql``}
    order by s.updated_at desc
    limit ${query.limit}`);
  return result.rows.map((row) => {
    const r = row as {
      stream_id: string;
      user_id: string | null;
      version: number;
      turns: number;
      created_at: Date | string;
      updated_at: Date | string;
      closed_at: Date | string | null;
      erased_at: Date | string | null;
    };
    return {
      sessionId: r.stream_id.slice('session-'.length),
      userId: r.user_id,
      turns: Number(r.turns),
      version: Number(r.version),
      startedAt: new Date(r.created_at).toISOString(),
      lastActivityAt: new Date(r.updated_at).toISOString(),
      status: r.erased_at ? 'erased' : r.closed_at ? 'expired' : 'live',
    };
  });
}

/**
 * The tenant's conversations with a turn at or after `since` — sessions, and the streams of
 * sessionless turns — oldest activity first, at most `limit` (for a what-if over recent traffic).
 */
export async function streamsActiveSince(db: Pick<Db, 'execute'>, tenantId: string, since: Date, limit: number): Promise<string[]> {
  const result = await db.execute(sql`
    select stream_id from streams
    where tenant_id = ${tenantId} and (stream_id like 'session-%' or stream_id like 'turn-%')
      and updated_at >= ${since.toISOString()} and erased_at is null
    order by updated_at
    limit ${limit}`);
  return rowsOf(result, z.object({ stream_id: Col.text }), 'streams active since').map((row) => row.stream_id);
}
