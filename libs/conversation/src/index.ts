export { derivedId } from './ids';
export { addedItems, functionCallItemId, replyItemId, transcriptItems, withoutItem, type TranscriptItem } from './conversation-items';
export { ConversationError, ConversationErrorCodes, type ConversationErrorCode } from './errors';
export {
  conversationItems,
  emptyUsage,
  evolveSession,
  foldSession,
  initialSessionState,
  RECENT_TURNS,
  routingHistory,
  SESSION_FOLD_VERSION,
  SessionFolder,
  type ConversationSummary,
  type OpenSession,
  type SessionState,
  type SessionUsage,
  type TranscriptMessage,
  type TurnRecord,
  type TurnStatus,
  type UsageTotals,
  type Versioned,
} from './session.state';
export { evolveUserMemory, foldUserMemory, initialUserMemory, memoryMessage, type UserMemory } from './user-memory.state';
export {
  followUpText,
  needsHistory,
  routeMessage,
  routeTurn,
  routingEvents,
  type KnowledgeMatcher,
  type Routing,
  type FaqCandidate,
  type RouteDecision,
  type RouteInput,
  type RoutingHistory,
} from './turn-routing.policy';
export {
  buildStatefulContext,
  buildStatelessContext,
  chatMessage,
  contextDigest,
  contextTranscript,
  statefulContext,
  summaryMessage,
  turnContext,
} from './llm-context';
export {
  contextTokens,
  countTokens,
  cutToTokens,
  MESSAGE_OVERHEAD_TOKENS,
  messageTokens,
  TOKEN_COUNTS_KEPT,
  tokenCountsKept,
} from './tokens';
export { planSummary, SUMMARY_INSTRUCTIONS, summaryPrompt, summaryShare, type SummaryRequest } from './summary.policy';
export {
  admitAnswer,
  admitRouting,
  answerUsage,
  summaryUsage,
  failed,
  gaveUp,
  outcomeIdOf,
  remembered,
  replied,
  summarized,
  superseded,
  TURN_UNANSWERED,
  type Admission,
  type TurnReply,
  type UsageIncrement,
} from './turn.decider';
export { rebuiltContext, recordedTurns, type RebuiltContext, type RecordedTurn } from './replay';
