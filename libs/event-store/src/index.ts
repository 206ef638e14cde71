// What the event store offers the rest of Parley, by name (what nothing outside uses — the sealing
// helpers, the drizzle schema — stays inside).
export {
  connectDatabase,
  type Database,
  type Db,
  ensureDatabase,
  migrateDatabase,
  pingDatabase,
  probeDatabase,
  lockedConnection,
  type LockedConnection,
  tryAdvisoryLock,
} from './database';
export {
  ConcurrencyError,
  DuplicateEventError,
  EventStoreError,
  EventTooLargeError,
  OutcomeRecordedError,
  StreamErasedError,
  StreamInactiveError,
  StreamNotFoundError,
  UserErasedError,
} from './errors';
export { type AppendOptions, EventStore, MAX_EVENT_BYTES, type StreamInfo } from './event-store';
export { lagAfter, LOG_START, LogCheckpoints, logHead, type LogPosition, readLogAfter } from './log-reader';
export { eraseUser } from './erasure';
export { DataKeys } from './data-keys';
export { loadSessionState, SessionProjectionRepository } from './session-projection.repository';
export { SessionStates } from './session-states';
export { type RebuildProgress, rebuildSessionProjections } from './projection-rebuild';
export { KnowledgeBaseRepository } from './knowledge-base.repository';
export { UserMemoryStore } from './user-memory.repository';
export { recountUsage, tenantUsage } from './usage.query';
export {
  type Caller,
  createApiKey,
  ensureDevKey,
  listApiKeys,
  listTenants,
  type LlmProvider,
  revokeApiKey,
  setTenantLlmApiKey,
  TenantDirectory,
  updateTenantSettings,
} from './tenants.repository';
export { forkSession, ForkVersionError, sessionStateAt } from './session-fork';
export {
  listSessions,
  memoryBefore,
  normalizeSessionId,
  rebuildContext,
  type ReplayedTurn,
  ReplayPointError,
  replaySession,
  sessionEvents,
  type SessionListing,
  type SessionReplay,
  streamsActiveSince,
} from './session-replay';
export { DeadLettersRepository } from './dead-letters.repository';
export { type EmbeddedPostgres, parleyHome, runningEmbedded, startEmbeddedPostgres } from './embedded-postgres';
export { CallerUsers, normalizedNumber } from './caller-users.repository';
