import {
  CreateSessionBody,
  ForkSessionBody,
  InterruptBody,
  PutMemoryBody,
  RouteInfo,
  SessionTurnBody,
  StatelessTurnBody,
  UserTurnBody,
} from '@parley/contracts';
import { z } from 'zod';
import { ChatCompletionRequest } from '../openai/openai-shapes';
import { AddItems, CreateConversation, UpdateConversation } from '../openai/conversations-shapes';
import { ResponsesRequest } from '../openai/responses-shapes';

/** A request body's JSON Schema, as clients send it (before defaults and transforms). */
const input = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'openapi-3.0' }) as Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const body = (schema: z.ZodType, required = true) => ({ required, content: json(input(schema)) });
const ok = (description: string, schema: object = { type: 'object' }, status = '200') => ({
  [status]: { description, content: json(schema) },
});
const streamable = (description: string, schema: object) => ({
  '200': {
    description,
    content: { ...json(schema), 'text/event-stream': { schema: { type: 'string', description: 'Server-Sent Events' } } },
  },
});
const param = (
  name: string,
  where: 'path' | 'query' | 'header',
  description: string,
  schema: object = { type: 'string' },
  required = where === 'path',
) => ({
  name,
  in: where,
  required,
  description,
  schema,
});
const errors = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [String(status), { description: ERROR_TEXT[status] ?? 'error', content: json(ref('Error')) }]),
  );
const openAiErrors = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [String(status), { description: ERROR_TEXT[status] ?? 'error', content: json(ref('OpenAiError')) }]),
  );

const ERROR_TEXT: Record<number, string> = {
  400: 'invalid request (`details` names the fields)',
  401: 'missing, unknown or revoked API key',
  404: "not found, or another tenant's",
  409: 'conflict (expired session, reused Idempotency-Key, not interruptible)',
  410: 'the user was erased',
  429: 'rate limited (`Retry-After`)',
  502: 'the LLM failed',
  503: 'overloaded, or a dependency is down for the moment (`Retry-After`)',
  504: 'no answer in time',
};

const sessionId = param('sessionId', 'path', 'session id (UUID)');
const userId = param('userId', 'path', "the application's id for the end user");
const conversationId = param('conversationId', 'path', 'conv_… (any session is a conversation)');
const itemId = param('itemId', 'path', 'msg_…, fc_… or fco_…');
/** OpenAI's item-list paging. */
const itemsPage = [
  param('limit', 'query', 'at most this many', { type: 'integer', minimum: 1, maximum: 100, default: 20 }),
  param('order', 'query', 'asc or desc', { type: 'string', enum: ['asc', 'desc'], default: 'desc' }),
  param('after', 'query', 'only items after this item id'),
  param('before', 'query', 'only items before this item id'),
];
const idempotency = param('Idempotency-Key', 'header', 'a retry with the same key returns the original turn', {
  type: 'string',
  maxLength: 255,
});
const page = [
  param('after', 'query', 'only items after this stream version', { type: 'integer', minimum: 0, default: 0 }),
  param('limit', 'query', 'at most this many', { type: 'integer', minimum: 1, maximum: 5000, default: 500 }),
];
const turnAnswer = streamable(
  'the answer; with `Accept: text/event-stream`, `delta` events as it is generated, then `done` with this body (or `error`)',
  ref('TurnResult'),
);

/** The OpenAPI 3.0 document of ingress: the native API and the OpenAI-compatible one. */
export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.0.3',
    info: {
      title: 'Parley',
      version: '0.1.0',
      description:
        'Conversation backend for voice and chat agents: stateless, stateful and hybrid-routed turns over an event-sourced log. ' +
        'Every route but the health checks needs `Authorization: Bearer <API key>`; a key sees only its tenant. ' +
        "The OpenAI-compatible routes answer errors in OpenAI's shape.",
    },
    security: [{ bearer: [] }],
    tags: [
      { name: 'sessions' },
      { name: 'turns' },
      { name: 'users' },
      { name: 'openai', description: 'OpenAI-compatible' },
      { name: 'inspect', description: 'what the inspector page reads: a session replayed from the log' },
      { name: 'health' },
    ],
    paths: {
      '/v1/sessions': {
        post: {
          tags: ['sessions'],
          summary: 'Start a session',
          requestBody: body(CreateSessionBody),
          responses: {
            ...ok('started', { type: 'object', properties: { sessionId: { type: 'string' } } }, '201'),
            ...errors(400, 401, 410, 429),
          },
        },
      },
      '/v1/sessions/{sessionId}': {
        get: {
          tags: ['sessions'],
          summary: "The session's state, as of the latest event",
          parameters: [sessionId],
          responses: { ...ok('state'), ...errors(401, 404, 410, 429) },
        },
      },
      '/v1/sessions/{sessionId}/fork': {
        post: {
          tags: ['sessions'],
          summary: 'A new session continuing this one from a version of its history',
          parameters: [sessionId],
          requestBody: body(ForkSessionBody, false),
          responses: {
            ...ok('forked', { type: 'object', properties: { sessionId: { type: 'string' }, forkedFrom: { type: 'object' } } }, '201'),
            ...errors(400, 401, 404, 410, 429),
          },
        },
      },
      '/v1/sessions/{sessionId}/events': {
        get: {
          tags: ['sessions'],
          summary: "The session's events, a page at a time",
          parameters: [sessionId, ...page],
          responses: { ...ok('events'), ...errors(400, 401, 404, 429) },
        },
      },
      '/v1/sessions/{sessionId}/messages': {
        get: {
          tags: ['sessions'],
          summary: 'The whole transcript, a page at a time',
          parameters: [sessionId, ...page],
          responses: { ...ok('messages'), ...errors(400, 401, 404, 429) },
        },
      },
      '/v1/sessions/{sessionId}/turns': {
        post: {
          tags: ['turns'],
          summary: 'A turn in a session',
          parameters: [sessionId, idempotency],
          requestBody: body(SessionTurnBody),
          responses: { ...turnAnswer, ...errors(400, 401, 404, 409, 410, 429, 502, 504) },
        },
      },
      '/v1/sessions/{sessionId}/turns/{turnId}/interrupt': {
        post: {
          tags: ['turns'],
          summary: 'Barge-in: the user heard only `spokenText` of the reply',
          parameters: [sessionId, param('turnId', 'path', 'the interrupted turn')],
          requestBody: body(InterruptBody),
          responses: { ...ok('recorded'), ...errors(400, 401, 404, 409, 429) },
        },
      },
      '/v1/users/{userId}/turns': {
        post: {
          tags: ['turns'],
          summary: "A turn in the user's live session (or a new one)",
          parameters: [userId, idempotency],
          requestBody: body(UserTurnBody),
          responses: { ...turnAnswer, ...errors(400, 401, 409, 410, 429, 502, 504) },
        },
      },
      '/v1/turns': {
        post: {
          tags: ['turns'],
          summary: 'A stateless turn without a session',
          parameters: [idempotency],
          requestBody: body(StatelessTurnBody),
          responses: { ...turnAnswer, ...errors(400, 401, 409, 429, 502, 504) },
        },
      },
      '/v1/users/{userId}/memory': {
        get: {
          tags: ['users'],
          summary: 'What is remembered about the user',
          parameters: [userId],
          responses: { ...ok('memory'), ...errors(401, 404, 410, 429) },
        },
        put: {
          tags: ['users'],
          summary: 'Remember (or replace) facts',
          parameters: [userId],
          requestBody: body(PutMemoryBody),
          responses: { ...ok('memory'), ...errors(400, 401, 410, 429) },
        },
      },
      '/v1/users/{userId}/memory/{name}': {
        delete: {
          tags: ['users'],
          summary: 'Forget one fact',
          parameters: [userId, param('name', 'path', 'the fact')],
          responses: { ...ok('memory'), ...errors(401, 404, 410, 429) },
        },
      },
      '/v1/users/{userId}': {
        delete: {
          tags: ['users'],
          summary: "Erase the user's personal data (crypto-shredding); idempotent",
          parameters: [userId],
          responses: { ...ok('erased'), ...errors(401, 429) },
        },
      },
      '/v1/usage': {
        get: { tags: ['users'], summary: "The tenant's turns and tokens by route", responses: { ...ok('usage'), ...errors(401, 429) } },
      },
      '/v1/inspect/sessions': {
        get: {
          tags: ['inspect'],
          summary: "The tenant's sessions, most recently active first (what the inspector page lists)",
          parameters: [
            param('userId', 'query', "only this user's sessions"),
            param('since', 'query', 'only sessions active at or after this time', { type: 'string', format: 'date-time' }),
            param('limit', 'query', 'at most this many', { type: 'integer', minimum: 1, maximum: 500, default: 50 }),
          ],
          responses: { ...ok('sessions'), ...errors(400, 401, 429) },
        },
      },
      '/v1/inspect/sessions/{sessionId}': {
        get: {
          tags: ['inspect'],
          summary:
            "The session replayed from the log, as `parley replay --json`: events, each turn's route, rebuilt context (checked), reply, memory writes, tokens and timings, and the state",
          parameters: [sessionId, param('at', 'query', 'as of this stream version, or this time (ISO 8601)')],
          responses: { ...ok('the replay'), ...errors(400, 401, 404, 429) },
        },
      },
      '/v1/inspect/sessions/{sessionId}/live': {
        get: {
          tags: ['inspect'],
          summary: 'The same, followed live: Server-Sent Events, a `replay` event now and after each change of the log',
          parameters: [sessionId],
          responses: {
            '200': { description: 'Server-Sent Events', content: { 'text/event-stream': { schema: { type: 'string' } } } },
            ...errors(400, 401, 404, 429, 503),
          },
        },
      },
      '/inspect': {
        get: {
          tags: ['inspect'],
          summary: 'The inspector page (asks for an API key)',
          security: [],
          responses: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
        },
      },
      '/v1/chat/completions': {
        post: {
          tags: ['openai'],
          summary: 'OpenAI chat completions: stateless, or stateful with X-Parley-Session, `user` or `call.id`',
          parameters: [param('X-Parley-Session', 'header', 'conversation key: Parley keeps the conversation'), idempotency],
          requestBody: body(ChatCompletionRequest),
          responses: {
            ...streamable('`chat.completion`, or `chat.completion.chunk` events then `[DONE]` with `stream: true`', { type: 'object' }),
            ...openAiErrors(400, 401, 404, 409, 429, 502, 504),
          },
        },
      },
      '/v1/responses': {
        post: {
          tags: ['openai'],
          summary: 'OpenAI Responses, with previous_response_id kept in the log',
          parameters: [idempotency],
          requestBody: body(ResponsesRequest),
          responses: {
            ...streamable('a `response`, or typed events with `sequence_number` with `stream: true`', { type: 'object' }),
            ...openAiErrors(400, 401, 429, 502, 504),
          },
        },
      },
      '/v1/responses/{responseId}': {
        get: {
          tags: ['openai'],
          summary: 'A stored response',
          parameters: [param('responseId', 'path', 'resp_…')],
          responses: { ...ok('the response'), ...openAiErrors(401, 404, 429) },
        },
        delete: {
          tags: ['openai'],
          summary: 'Deletes a stored response (recorded as ResponseDeleted; its turn stays in the conversation)',
          parameters: [param('responseId', 'path', 'resp_…')],
          responses: { ...ok('`{id, object: "response", deleted: true}`'), ...openAiErrors(401, 404, 429) },
        },
      },
      '/v1/responses/{responseId}/input_items': {
        get: {
          tags: ['openai'],
          summary: 'What a stored response was given: its input items, newest first unless order=asc',
          parameters: [param('responseId', 'path', 'resp_…'), ...itemsPage],
          responses: { ...ok('a list'), ...openAiErrors(400, 401, 404, 429) },
        },
      },
      '/v1/conversations': {
        post: {
          tags: ['openai'],
          summary: 'A new conversation (a session), with up to 20 first items and metadata (recorded as ConversationItemsAdded)',
          parameters: [idempotency],
          requestBody: body(CreateConversation),
          responses: { ...ok('a `conversation`'), ...openAiErrors(400, 401, 429) },
        },
      },
      '/v1/conversations/{conversationId}': {
        get: {
          tags: ['openai'],
          summary: 'A conversation',
          parameters: [conversationId],
          responses: { ...ok('the conversation'), ...openAiErrors(401, 404, 429) },
        },
        post: {
          tags: ['openai'],
          summary: "Replaces the conversation's metadata (recorded as SessionMetadataUpdated)",
          parameters: [conversationId],
          requestBody: body(UpdateConversation),
          responses: { ...ok('the conversation'), ...openAiErrors(400, 401, 404, 429) },
        },
        delete: {
          tags: ['openai'],
          summary: 'Deletes the conversation: not found afterwards; its turns stay in the log (recorded as ConversationDeleted)',
          parameters: [conversationId],
          responses: { ...ok('`{id, object: "conversation.deleted", deleted: true}`'), ...openAiErrors(401, 404, 429) },
        },
      },
      '/v1/conversations/{conversationId}/items': {
        get: {
          tags: ['openai'],
          summary: "The conversation's items — messages, function calls and outputs — newest first unless order=asc",
          parameters: [conversationId, ...itemsPage, param('include', 'query', 'accepted; Parley has nothing more to include')],
          responses: { ...ok('a list'), ...openAiErrors(400, 401, 404, 429) },
        },
        post: {
          tags: ['openai'],
          summary: 'Adds up to 20 items without a turn: later responses see them (recorded as ConversationItemsAdded)',
          parameters: [conversationId, idempotency],
          requestBody: body(AddItems),
          responses: { ...ok('a list of the added items'), ...openAiErrors(400, 401, 404, 429) },
        },
      },
      '/v1/conversations/{conversationId}/items/{itemId}': {
        get: {
          tags: ['openai'],
          summary: 'One item',
          parameters: [conversationId, itemId],
          responses: { ...ok('the item'), ...openAiErrors(401, 404, 429) },
        },
        delete: {
          tags: ['openai'],
          summary:
            'Deletes an item: later contexts leave it out; a function call and its output go together (recorded as ConversationItemDeleted)',
          parameters: [conversationId, itemId],
          responses: { ...ok('the conversation'), ...openAiErrors(401, 404, 429) },
        },
      },
      '/v1/models': {
        get: {
          tags: ['openai'],
          summary: 'The models a request may name: `parley` (the default), PARLEY_MODEL and PARLEY_MODELS',
          responses: { ...ok('a list'), ...openAiErrors(401, 429) },
        },
      },
      '/v1/models/{model}': {
        get: {
          tags: ['openai'],
          summary: 'One of those models',
          parameters: [param('model', 'path', 'a model id')],
          responses: { ...ok('the model'), ...openAiErrors(401, 404, 429) },
        },
      },
      '/healthz': { get: { tags: ['health'], summary: 'The process is up', security: [], responses: ok('up') } },
      '/readyz': {
        get: {
          tags: ['health'],
          summary: 'Every dependency answers',
          security: [],
          responses: { ...ok('ready'), '503': { description: 'names what is missing', content: json(ref('Error')) } },
        },
      },
      '/metrics': {
        get: {
          tags: ['health'],
          summary: 'Prometheus metrics of this instance (with PARLEY_METRICS_TOKEN set: Authorization: Bearer <token>)',
          security: [],
          responses: {
            '200': { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } },
            ...errors(401),
          },
        },
      },
      '/docs/openapi.json': { get: { tags: ['health'], summary: 'This document', security: [], responses: ok('OpenAPI 3.0') } },
      '/docs': {
        get: {
          tags: ['health'],
          summary: 'This document, browsable',
          security: [],
          responses: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
        },
      },
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'a Parley API key (`parley keys create --tenant <name>`)' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string', example: 'SESSION.NOT_FOUND' }, message: { type: 'string' }, details: {} },
            },
          },
        },
        OpenAiError: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              properties: {
                message: { type: 'string' },
                type: { type: 'string' },
                param: { type: 'string', nullable: true },
                code: { type: 'string', nullable: true },
              },
            },
          },
        },
        TurnResult: {
          type: 'object',
          required: ['turnId', 'sessionId', 'reply', 'route', 'usage'],
          properties: {
            turnId: { type: 'string' },
            sessionId: { type: 'string', nullable: true },
            reply: {
              type: 'object',
              properties: {
                text: { type: 'string' },
                interrupted: { type: 'string', enum: ['client-disconnected', 'barge-in', 'next-turn'] },
              },
            },
            route: z.toJSONSchema(RouteInfo, { target: 'openapi-3.0' }),
            usage: {
              type: 'object',
              nullable: true,
              properties: { promptTokens: { type: 'integer' }, completionTokens: { type: 'integer' } },
            },
            sessionResumed: { type: 'boolean', description: '`POST /v1/users/{userId}/turns` only' },
          },
        },
      },
    },
  };
}

/** Swagger UI (served from the `swagger-ui-dist` package, no network needed) over the document. */
export const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Parley API</title><link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/docs/openapi.json', dom_id: '#ui', persistAuthorization: true });</script>
</body>
</html>
`;
