import { z } from 'zod';

/** How the client asked a turn to be routed. */
export const RequestedMode = z.enum(['auto', 'stateful', 'stateless']);
export type RequestedMode = z.infer<typeof RequestedMode>;

/** How a turn was actually answered. */
export const RouteMode = z.enum(['stateful', 'stateless']);
export type RouteMode = z.infer<typeof RouteMode>;

const Id = z.string().min(1).max(200);

/** A session was opened; always the first event of a `session-<id>` stream. */
export const SessionStartedData = z.object({
  /** Public session id (the stream id without its `session-` prefix). */
  sessionId: Id,
  /** The application's id for the end user, when known. */
  userId: Id.nullable(),
  /** Free-form, JSON-safe data the application attached to the session. */
  metadata: z.record(z.string(), z.unknown()),
});

/** A function call the model asked for. */
export const ToolCallData = z.object({
  id: z.string(),
  name: z.string(),
  /** JSON text, as the model wrote it. */
  arguments: z.string(),
});
export type ToolCallData = z.infer<typeof ToolCallData>;

/** A function the client offers the model (OpenAI `tools[].function`). */
export const ToolSpecData = z.object({
  name: z.string().min(1).max(64),
  description: z.string().max(4_000).optional(),
  /** JSON Schema of the arguments. */
  parameters: z.record(z.string(), z.unknown()).optional(),
});
export type ToolSpecData = z.infer<typeof ToolSpecData>;

/** A message of a conversation a client sent in full (OpenAI chat format, tool calls included). */
export const ClientMessage = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: z.string() }),
  z.object({ role: z.literal('user'), content: z.string() }),
  z.object({ role: z.literal('assistant'), content: z.string().nullable(), toolCalls: z.array(ToolCallData).optional() }),
  z.object({ role: z.literal('tool'), toolCallId: z.string(), content: z.string() }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

/** A JSON Schema a reply must follow (`response_format: json_schema`, or Responses' `text.format`). */
export const JsonSchemaFormat = z.object({
  name: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/),
  description: z.string().max(4_000).optional(),
  schema: z.record(z.string(), z.unknown()).optional(),
  strict: z.boolean().nullable().optional(),
});

/**
 * What the client asked of the model for this turn (OpenAI's sampling and output parameters), in
 * the ranges OpenAI accepts. Recorded with the message, so the reply's LLM call — and a
 * `parley rerun --live` of it — gets exactly what was asked. Absent: the model's own defaults.
 */
export const GenerationOptions = z
  .object({
    /** A model the deployment allows (`PARLEY_MODELS`); absent: `PARLEY_MODEL`. */
    model: z.string().min(1).max(200).optional(),
    temperature: z.number().min(0).max(2).optional(),
    topP: z.number().min(0).max(1).optional(),
    /** `max_tokens` as sent (older name, still what most OpenAI-compatible servers read). */
    maxTokens: z.number().int().min(1).max(1_000_000).optional(),
    /** `max_completion_tokens` / `max_output_tokens` as sent. */
    maxCompletionTokens: z.number().int().min(1).max(1_000_000).optional(),
    stop: z.array(z.string().min(1).max(1_000)).min(1).max(4).optional(),
    seed: z
      .number()
      .int()
      .min(-(2 ** 53) + 1)
      .max(2 ** 53 - 1)
      .optional(),
    presencePenalty: z.number().min(-2).max(2).optional(),
    frequencyPenalty: z.number().min(-2).max(2).optional(),
    /** `none`, `auto`, `required`, or one named function. */
    toolChoice: z
      .union([
        z.enum(['none', 'auto', 'required']),
        z.object({ type: z.literal('function'), function: z.object({ name: z.string().min(1).max(64) }) }),
      ])
      .optional(),
    parallelToolCalls: z.boolean().optional(),
    /** `text`, `json_object`, or `json_schema` with its schema, as OpenAI's `response_format`. */
    responseFormat: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('text') }),
        z.object({ type: z.literal('json_object') }),
        z.object({ type: z.literal('json_schema'), json_schema: JsonSchemaFormat }),
      ])
      .optional(),
  })
  .strict();
export type GenerationOptions = z.infer<typeof GenerationOptions>;

/** The user said something. */
export const UserMessageReceivedData = z.object({
  /** Id of the turn this message opens; every later event of the turn carries it. */
  turnId: Id,
  /** What the user said (or the transcript of what they spoke). */
  text: z.string(),
  /** The route the client asked for. */
  requestedMode: RequestedMode,
  /** The client's system prompt for this turn, in place of the deployment's (OpenAI-compatible clients send one). */
  instructions: z.string().optional(),
  /**
   * The conversation the client sent before this message. Without a session (the classic chat
   * API keeps history on the client) it is the turn's context, as sent; in a session, its user and
   * assistant messages are ones the session did not have, and join its transcript before this one.
   */
  context: z.array(ClientMessage).optional(),
  /** Functions the client offers the model; calls to them are returned to the client. */
  tools: z.array(ToolSpecData).optional(),
  /** What the client asked of the model (temperature, max tokens, response format, ...). */
  generation: GenerationOptions.optional(),
});

/** Who produces the answer: the LLM, or the knowledge base (FAQ) without an LLM call. */
export const AnswerRoute = z.enum(['llm', 'faq']);
export type AnswerRoute = z.infer<typeof AnswerRoute>;

/** A routing input, recorded so a decision can be audited and replayed. */
const Feature = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** The router decided how to answer a turn (schema version 2). */
export const TurnRoutedData = z.object({
  /** The turn being routed. */
  turnId: Id,
  /** Stateless answers see the request alone; stateful ones see the session's state. */
  mode: RouteMode,
  /** Who produces the answer. */
  route: AnswerRoute,
  /** Why this mode was chosen, as a stable machine-readable phrase. */
  reason: z.string(),
  /** The inputs that drove the decision, by name. */
  features: z.record(z.string(), Feature),
});

/** `TurnRouted` as first recorded (schema version 1): no route, no features. */
export const TurnRoutedDataV1 = z.object({
  turnId: Id,
  mode: RouteMode,
  reason: z.string(),
});

/** Token counts the LLM reported for one call. */
export const TokenUsage = z.object({
  /** Tokens in the context sent to the model. */
  promptTokens: z.number().int().nonnegative(),
  /** Tokens the model generated. */
  completionTokens: z.number().int().nonnegative(),
});
export type TokenUsage = z.infer<typeof TokenUsage>;

/** One message of the exact context a model was given. */
export const ContextMessage = z.object({
  /** Chat role as the OpenAI API names it. */
  role: z.enum(['system', 'user', 'assistant']),
  /** Message text. */
  content: z.string(),
});
export type ContextMessage = z.infer<typeof ContextMessage>;

/** Why a reply stopped before the model finished it. */
export const InterruptReason = z.enum(['client-disconnected', 'barge-in', 'next-turn']);
export type InterruptReason = z.infer<typeof InterruptReason>;

/** `AssistantReplied` as first recorded (schema version 1): no interruptions. */
export const AssistantRepliedDataV1 = z.object({
  turnId: Id,
  text: z.string(),
  model: z.string(),
  usage: TokenUsage.nullable(),
  latencyMs: z.number().nonnegative(),
  contextMessages: z.number().int().nonnegative(),
});

/** The assistant answered a turn (schema version 3). */
export const AssistantRepliedData = z.object({
  /** The turn answered. */
  turnId: Id,
  /** The reply text. */
  text: z.string(),
  /** The model that produced it. */
  model: z.string(),
  /** Token usage, when the model reported it. */
  usage: TokenUsage.nullable(),
  /** Wall-clock time of the LLM call in milliseconds. */
  latencyMs: z.number().nonnegative(),
  /** Number of messages in the context the model was given (the context itself is rebuilt on replay). */
  contextMessages: z.number().int().nonnegative(),
  /**
   * Set when the generation was cut short — the client went away, the user barged in, or their
   * next turn interrupted it — and `text` is only what was generated until then.
   */
  interrupted: InterruptReason.nullable(),
  /** The client's functions the model asked to call (the client runs them and sends the results). */
  toolCalls: z.array(ToolCallData).optional(),
  /**
   * Fingerprint (`contextDigest`) of the context the model was given, so a replay or rerun that
   * rebuilds it from the log can tell whether it is the same. Absent on knowledge base answers.
   */
  contextDigest: z.string().optional(),
  /**
   * Stream version of the session state the context was built from: the events up to it, and no
   * later one (a summary or another turn recorded while the model answered). Absent for turns
   * answered without the session (and before version 3, when the state was the log up to the reply).
   */
  stateVersion: z.number().int().positive().optional(),
  /**
   * Oldest messages of the transcript (after the summary) left out of the context because they
   * did not fit the token budget before a summary took them in. Absent when none were.
   */
  droppedMessages: z.number().int().positive().optional(),
});

/** `AssistantReplied` of schema version 2: the context's extent was not recorded. */
export const AssistantRepliedDataV2 = AssistantRepliedData.omit({ stateVersion: true, droppedMessages: true });

/**
 * The user interrupted the assistant's reply (barge-in): only `spokenText` reached them, so later
 * turns see that in place of the whole reply.
 */
export const ReplyInterruptedData = z.object({
  /** The turn whose reply was interrupted. */
  turnId: Id,
  /** What the user heard (was shown) before interrupting. */
  spokenText: z.string(),
});

/** A turn could not be answered; the failure is part of the history. */
export const TurnFailedData = z.object({
  /** The turn that failed. */
  turnId: Id,
  /** Stable error code, e.g. `LLM.TIMEOUT`. */
  code: z.string(),
  /** Human-readable explanation. */
  message: z.string(),
});

/** A session ended after a period without turns; later turns go to a new session. */
export const SessionExpiredData = z.object({
  /** The inactivity limit that was exceeded, in seconds. */
  idleSeconds: z.number().int().positive(),
  /** ISO time of the session's last event before it expired. */
  lastActivityAt: z.string(),
});

/**
 * Older messages of a session were folded into a rolling summary, to keep the LLM input under the
 * context budget. From then on the session's state (and every stateful context) holds this summary
 * in place of the messages up to `throughVersion`; the log keeps them all.
 */
/** Older messages of a session folded into its rolling summary (schema version 2). */
export const ConversationSummarizedData = z.object({
  /** The turn after whose reply the summary was written (before version 2: the turn whose context needed the room). */
  turnId: Id,
  /** The summary: the previous summary and the newly folded messages, merged. */
  summary: z.string(),
  /** Stream version of the last message the summary covers. */
  throughVersion: z.number().int().positive(),
  /** Messages covered, counting those of earlier summaries. */
  summarizedMessages: z.number().int().positive(),
  /** The model that wrote the summary. */
  model: z.string(),
  /** Token usage of the summarizing call, when the model reported it. */
  usage: TokenUsage.nullable(),
  /** Set when the model's summary was longer than its share of the context budget and was cut to it. */
  truncated: z.boolean().optional(),
});

/** `ConversationSummarized` of schema version 1: a summary was never cut. */
export const ConversationSummarizedDataV1 = ConversationSummarizedData.omit({ truncated: true });

/** One message carried into a forked session. */
export const ForkedMessageData = z.object({
  role: z.enum(['user', 'assistant', 'tool']),
  text: z.string(),
  /** Calls to the client's tools the assistant made. */
  toolCalls: z.array(ToolCallData).optional(),
  /** The call a tool message answers. */
  toolCallId: z.string().optional(),
  /** The turn of the original session it belonged to. */
  turnId: Id,
  /** When it was said in the original session. */
  at: z.string(),
});

/**
 * The session continues another one from a point in its history (`parley fork`, or an OpenAI
 * `previous_response_id` that is not its conversation's latest): it starts with the conversation
 * as it stood there — the summary and the messages after it — copied, so it never depends on the
 * original. Always the second event of its stream.
 */
export const SessionForkedData = z.object({
  /** The session it was forked from. */
  fromSessionId: Id,
  /** The stream version of the original the fork starts from. */
  atVersion: z.number().int().positive(),
  /** The original's rolling summary at that point, if it had one. */
  summary: z.string().nullable(),
  /** Messages the summary covers. */
  summarizedMessages: z.number().int().nonnegative(),
  /** The original's messages after the summary, up to that point. */
  messages: z.array(ForkedMessageData),
  /** Turns the original had answered statefully by then (an ongoing case carries over). */
  llmTurns: z.number().int().nonnegative(),
});

/** Where a remembered fact came from. */
export const MemorySource = z.enum(['llm', 'api']);

/** Something learned about a user, kept across sessions (a `user-…` stream). */
export const MemoryRememberedData = z.object({
  /** Short key of the fact, e.g. `seat_preference`; remembering it again replaces the value. */
  name: z.string().min(1).max(100),
  /** The fact. */
  value: z.string().min(1).max(2_000),
  /** Who recorded it: the LLM through its `remember` tool, or the application through the API. */
  source: MemorySource,
  /** The turn in which the LLM learned it, when it did. */
  turnId: z.string().nullable(),
});

/** A fact was removed from a user's memory. */
export const MemoryForgottenData = z.object({
  /** The fact's key. */
  name: z.string().min(1).max(100),
  /** Who removed it. */
  source: MemorySource,
});

/**
 * A stored response (OpenAI's `DELETE /v1/responses/{id}`) was deleted: it can no longer be
 * retrieved or continued. The turn itself stays in the log and in the conversation.
 */
export const ResponseDeletedData = z.object({
  /** The turn the response was. */
  turnId: Id,
});

/** A message of a conversation added without a turn (OpenAI's conversation items): no system messages, which are per response. */
export const ConversationItemData = z.discriminatedUnion('role', [
  z.object({ role: z.literal('user'), content: z.string() }),
  z.object({ role: z.literal('assistant'), content: z.string().nullable(), toolCalls: z.array(ToolCallData).optional() }),
  z.object({ role: z.literal('tool'), toolCallId: z.string(), content: z.string() }),
]);
export type ConversationItemData = z.infer<typeof ConversationItemData>;

/**
 * Messages joined the conversation without being answered (`POST /v1/conversations` with items,
 * `POST /v1/conversations/{id}/items`): later turns see them in their context, in log order.
 */
export const ConversationItemsAddedData = z.object({
  /** At least one when recorded; none once erased. */
  items: z.array(ConversationItemData),
});

/**
 * An item left the conversation (`DELETE /v1/conversations/{id}/items/{item}`): later contexts
 * and item lists leave it out. The log keeps the event that brought it; a function call and its
 * output leave together, since a model cannot be given one without the other.
 */
export const ConversationItemDeletedData = z.object({
  /** The item's id, as the Conversations API lists it. */
  itemId: Id,
});

/** The session's metadata was replaced (`POST /v1/conversations/{id}` with `metadata`). */
export const SessionMetadataUpdatedData = z.object({
  metadata: z.record(z.string(), z.unknown()),
});

/**
 * The conversation was deleted (`DELETE /v1/conversations/{id}`): it can no longer be retrieved,
 * listed or continued. As OpenAI's does, this keeps the turns (the log is append-only); erasing
 * the user or the tenant is what removes their text.
 */
export const ConversationDeletedData = z.object({});

/** Every event type with the schema of its data, at its current schema version. */
export const EventSchemas = {
  SessionStarted: SessionStartedData,
  UserMessageReceived: UserMessageReceivedData,
  TurnRouted: TurnRoutedData,
  AssistantReplied: AssistantRepliedData,
  TurnFailed: TurnFailedData,
  MemoryRemembered: MemoryRememberedData,
  MemoryForgotten: MemoryForgottenData,
  SessionExpired: SessionExpiredData,
  ConversationSummarized: ConversationSummarizedData,
  ReplyInterrupted: ReplyInterruptedData,
  SessionForked: SessionForkedData,
  ResponseDeleted: ResponseDeletedData,
  ConversationItemsAdded: ConversationItemsAddedData,
  ConversationItemDeleted: ConversationItemDeletedData,
  SessionMetadataUpdated: SessionMetadataUpdatedData,
  ConversationDeleted: ConversationDeletedData,
} as const;

export type EventType = keyof typeof EventSchemas;
export const EVENT_TYPES = Object.keys(EventSchemas) as EventType[];

/** Current schema version of every event type; bump and add an upcaster when a shape changes. */
export const EVENT_SCHEMA_VERSIONS: Record<EventType, number> = {
  SessionStarted: 1,
  UserMessageReceived: 1,
  TurnRouted: 2,
  AssistantReplied: 3,
  TurnFailed: 1,
  MemoryRemembered: 1,
  MemoryForgotten: 1,
  SessionExpired: 1,
  ConversationSummarized: 2,
  ReplyInterrupted: 1,
  SessionForked: 1,
  ResponseDeleted: 1,
  ConversationItemsAdded: 1,
  ConversationItemDeleted: 1,
  SessionMetadataUpdated: 1,
  ConversationDeleted: 1,
};

/**
 * `UPCASTERS[type][n]` turns data of version n into version n + 1. Old events are never
 * rewritten: they are upcast every time they are read, from the log or from the wire.
 */
export const UPCASTERS: Partial<Record<EventType, Record<number, (data: unknown) => unknown>>> = {
  TurnRouted: {
    1: (data) => ({ ...TurnRoutedDataV1.parse(data), route: 'llm', features: {} }),
  },
  AssistantReplied: {
    1: (data) => ({ ...AssistantRepliedDataV1.parse(data), interrupted: null }),
    2: (data) => AssistantRepliedDataV2.parse(data),
  },
  ConversationSummarized: {
    1: (data) => ConversationSummarizedDataV1.parse(data),
  },
};

export class UnknownSchemaVersionError extends Error {
  override readonly name = 'UnknownSchemaVersionError';
  readonly code = 'EVENT.UNKNOWN_SCHEMA_VERSION';
  constructor(
    readonly type: string,
    readonly schemaVersion: number,
  ) {
    super(`${type} schema version ${schemaVersion} is newer than this code knows (${EVENT_SCHEMA_VERSIONS[type as EventType]})`);
  }
}

/** Brings event data of any known version to the current one, then validates it. */
export function upcastEventData<T extends EventType>(type: T, schemaVersion: number, data: unknown): z.infer<(typeof EventSchemas)[T]> {
  const current = EVENT_SCHEMA_VERSIONS[type];
  if (!Number.isInteger(schemaVersion) || schemaVersion < 1 || schemaVersion > current)
    throw new UnknownSchemaVersionError(type, schemaVersion);
  let value = data;
  for (let version = schemaVersion; version < current; version++) {
    const step = UPCASTERS[type]?.[version];
    if (!step) throw new Error(`No upcaster for ${type} from version ${version}`);
    value = step(value);
  }
  return EventSchemas[type].parse(value) as z.infer<(typeof EventSchemas)[T]>;
}

/**
 * Fields holding personal data, with what replaces them once their key is destroyed. They are
 * sealed (encrypted with the stream's key) wherever an event leaves memory: in Postgres and on
 * JetStream. Erasing a user destroys the keys; the events stay, unreadable.
 */
export const PERSONAL_FIELDS: { [K in EventType]: Partial<Record<keyof z.infer<(typeof EventSchemas)[K]>, unknown>> } = {
  SessionStarted: { metadata: {} },
  UserMessageReceived: { text: '[erased]', instructions: '[erased]', context: [] },
  TurnRouted: {},
  AssistantReplied: { text: '[erased]' },
  TurnFailed: {},
  MemoryRemembered: { name: '[erased]', value: '[erased]' },
  MemoryForgotten: { name: '[erased]' },
  SessionExpired: {},
  ConversationSummarized: { summary: '[erased]' },
  ReplyInterrupted: { spokenText: '[erased]' },
  SessionForked: { summary: '[erased]', messages: [] },
  ResponseDeleted: {},
  ConversationItemsAdded: { items: [] },
  ConversationItemDeleted: {},
  SessionMetadataUpdated: { metadata: {} },
  ConversationDeleted: {},
};

/** Context that travels with every event but is not part of its meaning. */
export const EventMetadata = z.object({
  /** Tenant that owns the stream. */
  tenantId: z.string(),
  /** Id of the request or turn this event belongs to. */
  correlationId: z.string().optional(),
  /** Id of the event that caused this one. */
  causationId: z.string().optional(),
  /** Core NATS subject where the ingress instance waiting for this turn's answer listens. */
  replyTo: z.string().optional(),
  /** The client's `Idempotency-Key` for the request that recorded this event. */
  idempotencyKey: z.string().optional(),
  /** The client streams: the reply's pieces go to `replyTo` as they are generated. */
  stream: z.boolean().optional(),
  /**
   * On a user's message: it was routed as it was recorded — its `TurnRouted` (and a knowledge base
   * answer) are in the same append — so the router leaves it alone.
   */
  routed: z.boolean().optional(),
  /** W3C trace context the event was appended in: the consumers' spans continue that trace. */
  traceparent: z.string().max(256).optional(),
});
export type EventMetadata = z.infer<typeof EventMetadata>;

type DataOf<T extends EventType> = z.infer<(typeof EventSchemas)[T]>;

/** An event about to be appended: `{ type, data, metadata }` plus its id. */
export type NewEvent<T extends EventType = EventType> = {
  [K in T]: { eventId: string; type: K; data: DataOf<K>; metadata: EventMetadata };
}[T];

/** An event as stored in the log. */
export type RecordedEvent<T extends EventType = EventType> = {
  [K in T]: {
    /** Unique id; appending the same id twice is rejected (retries are idempotent). */
    eventId: string;
    type: K;
    data: DataOf<K>;
    metadata: EventMetadata;
    /** Stream the event belongs to, e.g. `session-<id>`. */
    streamId: string;
    /** 1-based position within the stream. */
    version: number;
    /** Position in the global log (order of insertion, not of commit). */
    globalPosition: string;
    /** ISO time the event was recorded. */
    recordedAt: string;
    /** Schema version of `data`: always the current one once parsed (older versions are upcast). */
    schemaVersion: number;
    /** Set when the personal fields were erased (their key destroyed) and show placeholders. */
    erased?: true;
  };
}[T];

export type SessionEvent = RecordedEvent;

/** The envelope of every event on the wire and in the database. */
export const RecordedEventEnvelope = z.object({
  /** Unique id; appending the same id twice is rejected (retries are idempotent). */
  eventId: z.string().uuid(),
  /** Past-tense event type. */
  type: z.enum(EVENT_TYPES as [EventType, ...EventType[]]),
  /** The event's data, as stored (personal fields sealed, maybe an older schema version). */
  data: z.unknown(),
  /** Tenant, correlation, causation. */
  metadata: EventMetadata,
  /** Stream the event belongs to, e.g. `session-<id>`. */
  streamId: z.string().min(1),
  /** 1-based position within the stream. */
  version: z.number().int().positive(),
  /** Position in the global log (order of insertion, not of commit). */
  globalPosition: z.string().regex(/^\d+$/),
  /** ISO time the event was recorded. */
  recordedAt: z.string(),
  /** Absent on messages from before versions were carried: those are version 1. */
  schemaVersion: z.number().int().positive().default(1),
});

/**
 * An event as stored and as sent over JetStream: the envelope, with `data` as stored — personal
 * fields sealed, possibly an older schema version. Opening it (with the stream's key) gives a
 * RecordedEvent.
 */
export type StoredEvent = z.output<typeof RecordedEventEnvelope>;

/** Parses the envelope of a stored or wire event, leaving `data` as it is (sealed, maybe old). */
export function parseStoredEvent(raw: unknown): StoredEvent {
  return RecordedEventEnvelope.parse(raw);
}

/**
 * Turns a stored event whose personal fields are already open into a RecordedEvent: upcasts older
 * schema versions and validates. Throws a ZodError naming the bad field, or
 * UnknownSchemaVersionError for data newer than this code.
 */
export function toRecordedEvent(stored: StoredEvent, openData: unknown = stored.data, erased = false): RecordedEvent {
  const data = upcastEventData(stored.type, stored.schemaVersion, openData);
  return { ...stored, data, schemaVersion: EVENT_SCHEMA_VERSIONS[stored.type], ...(erased ? { erased: true } : {}) } as RecordedEvent;
}

/** Parses an open event (no sealed fields), e.g. a fixture or a test's message. */
export function parseRecordedEvent(raw: unknown): RecordedEvent {
  return toRecordedEvent(parseStoredEvent(raw));
}

export function isEventOfType<T extends EventType>(event: RecordedEvent, type: T): event is Extract<RecordedEvent, { type: T }> {
  return event.type === type;
}
