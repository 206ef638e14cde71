import { Body, Controller, Delete, Get, Headers, Param, Post, Query, Res } from '@nestjs/common';
import { sessionStreamId, type ClientMessage, type RecordedEvent } from '@parley/contracts';
import { derivedId, summaryMessage, responseDeleted } from '@parley/conversation';
import { ConcurrencyError, EventStore, forkSession, sessionStateAt } from '@parley/event-store';
import type { FastifyReply } from 'fastify';
import { Tenant, type TenantContext } from '../auth/auth.guard';
import { ApiError, ApiExceptionFilter, openAiErrorBody } from '../http/api-error';
import { ZodPipe } from '../http/zod.pipe';
import { SessionsService } from '../sessions/sessions.service';
import { TurnsService, type TurnOptions, type TurnResult } from '../turns/turns.service';
import { ModelCatalog, responsesGeneration } from './generation-params';
import { parleyHeaders, reconcile, toolTurnContext, validKey } from './openai-shapes';
import {
  functionCallItem,
  functionTools,
  inputItems,
  InputItemsQuery,
  inputMessages,
  itemsPage,
  messageItem,
  messageItemId,
  outputText,
  parseResponseId,
  responseIdOf,
  responseObject,
  ResponsesRequest,
  type ResponseFacts,
} from './responses-shapes';
import { SseResponse } from '../http/sse-response';

const previousNotFound = (id: string) =>
  new ApiError('RESPONSE.PREVIOUS_NOT_FOUND', `Previous response with id '${id}' not found.`, { param: 'previous_response_id' });

/** Where a previous response leaves its conversation: its session, and the version its context ends at. */
interface PreviousResponse {
  id: string;
  sessionId: string;
  turnId: string;
  /** The last version of the session that belongs to the response's context. */
  endsAt: number;
  /** Later turns followed it: continuing from it branches off (a fork). */
  followed: boolean;
  /** The next turn carries this Idempotency-Key (a retry of the request that made it continues it). */
  nextKey: string | null;
}

/**
 * `POST /v1/responses` (and `GET /v1/responses/{id}`) over Parley's turns and sessions. A stored
 * response lives in a session of the log, so `previous_response_id` never expires: continuing the
 * latest response of a conversation continues its session; continuing an earlier one forks the
 * session at that point (`SessionForked`), as OpenAI's branching does. `store: false` is a
 * stateless turn whose context is the previous conversation (if any) and the input.
 */
@Controller('v1/responses')
export class ResponsesController {
  private readonly errors = new ApiExceptionFilter();

  constructor(
    private readonly turns: TurnsService,
    private readonly sessions: SessionsService,
    private readonly store: EventStore,
    private readonly models: ModelCatalog,
  ) {}

  @Post()
  async create(
    @Tenant() tenant: TenantContext,
    @Body(new ZodPipe(ResponsesRequest)) body: ResponsesRequest,
    @Res() reply: FastifyReply,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<void> {
    const key = idempotencyKey === undefined ? undefined : validKey(idempotencyKey);
    const messages = inputMessages(body.input);
    const instructions =
      [body.instructions ?? '', ...messages.flatMap((m) => (m.role === 'system' ? [m.content] : []))].filter(Boolean).join('\n\n') ||
      undefined;
    const said = messages.filter((m) => m.role !== 'system');
    const tools = functionTools(body.tools);
    const store = body.store !== false;
    const named = typeof body.conversation === 'string' ? body.conversation : (body.conversation?.id ?? null);
    if (named && body.previous_response_id) {
      throw new ApiError(
        'REQUEST.INVALID',
        "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or 'conversation'.",
        { param: 'conversation' },
      );
    }
    if (named && !store)
      throw new ApiError('REQUEST.INVALID', 'A response in a conversation is kept in it: store cannot be false', { param: 'store' });
    const conversation = named ? (await this.sessions.conversation(tenant.tenantId, named, 'conversation')).state : null;
    const previous = body.previous_response_id ? await this.previous(tenant, body.previous_response_id, key) : null;
    const generation = responsesGeneration(body, this.models.forTenant(tenant.settings).resolve(body.model));
    const base: TurnOptions = { tools, ...(key ? { idempotencyKey: key } : {}), ...(generation ? { generation } : {}) };

    let sessionId: string | null = null;
    let run: (options: TurnOptions) => Promise<TurnResult>;
    if (!store) {
      const all = [...(previous ? await this.transcript(previous) : []), ...said];
      const last = all.at(-1);
      const asked = last?.role === 'user' ? last.content : '';
      const context: ClientMessage[] = [
        ...(instructions ? [{ role: 'system' as const, content: instructions }] : []),
        ...(asked ? all.slice(0, -1) : all),
      ];
      run = (options) => this.turns.stateless(tenant, asked, { ...base, ...options, context });
    } else {
      const added = reconcile(said);
      if (!added)
        throw new ApiError('REQUEST.INVALID', 'input must end with a user message or function_call_output items', { param: 'input' });
      if (added.toolResults.length && !previous && !conversation) {
        throw new ApiError(
          'REQUEST.INVALID',
          'function_call_output items continue a response: send previous_response_id or conversation (or store: false with the whole input)',
          { param: 'input' },
        );
      }
      const session = conversation
        ? conversation.sessionId
        : previous
          ? await this.continueFrom(tenant, previous, key)
          : await this.startSession(tenant, body.user, key);
      sessionId = session;
      // the calls the previous response (or the conversation) made are in the log already; the input brings their outputs
      const known = previous
        ? await this.callsOf(previous)
        : new Set(conversation?.messages.flatMap((m) => (m.toolCalls ?? []).map((c) => c.id)) ?? []);
      const brought = added.toolResults.length ? toolTurnContext(added, known) : added.earlier;
      const context = brought.length ? { context: brought } : {};
      run = (options) => this.turns.inSession(tenant, session, added.text, 'auto', { ...base, instructions, ...context, ...options });
    }

    const facts = (result: TurnResult | null, turnId: string): ResponseFacts => ({
      id: responseIdOf(turnId, sessionId),
      createdAt: Math.floor(Date.now() / 1000),
      model: body.model ?? 'parley',
      status: !result ? 'in_progress' : result.reply.interrupted ? 'incomplete' : 'completed',
      instructions: body.instructions ?? null,
      previousResponseId: previous?.id ?? null,
      store,
      tools,
      user: body.user ?? null,
      turnId,
      text: result?.reply.text ?? '',
      toolCalls: result?.toolCalls ?? [],
      usage: result?.usage ?? null,
      error: null,
      interrupted: result?.reply.interrupted ?? null,
      conversation: named,
    });
    if (body.stream) return this.stream(reply, run, facts);
    const result = await run({});
    void reply
      .status(200)
      .headers(parleyHeaders(result))
      .send({
        ...responseObject(facts(result, result.turnId)),
        parley: { turnId: result.turnId, sessionId: result.sessionId, route: result.route },
      });
  }

  /** A stored response's turn, read from the log: this tenant's, not erased. */
  private async turnOf(tenant: TenantContext, responseId: string) {
    const notFound = new ApiError('RESPONSE.NOT_FOUND', `Response with id '${responseId}' not found.`, { param: 'response_id' });
    const named = parseResponseId(responseId);
    if (!named) throw notFound;
    const info = await this.sessions.streamOf(tenant.tenantId, named.sessionId).catch(() => null);
    if (!info || info.erased) throw notFound;
    const events = await this.store.readStream(sessionStreamId(named.sessionId), {
      types: ['UserMessageReceived', 'AssistantReplied', 'TurnFailed', 'ResponseDeleted'],
    });
    const ofTurn = events.filter((e) => 'turnId' in e.data && e.data.turnId === named.turnId);
    const asked = ofTurn.find((e): e is RecordedEvent<'UserMessageReceived'> => e.type === 'UserMessageReceived');
    if (!asked || ofTurn.some((e) => e.type === 'ResponseDeleted')) throw notFound;
    const replied = ofTurn.find((e): e is RecordedEvent<'AssistantReplied'> => e.type === 'AssistantReplied');
    const failed = ofTurn.find((e): e is RecordedEvent<'TurnFailed'> => e.type === 'TurnFailed');
    return { named, asked, replied, failed };
  }

  /** What a stored response was given: the items its request brought, and the user's message. */
  @Get(':responseId/input_items')
  async listInputItems(
    @Tenant() tenant: TenantContext,
    @Param('responseId') responseId: string,
    @Query(new ZodPipe(InputItemsQuery)) query: InputItemsQuery,
  ) {
    const { named, asked } = await this.turnOf(tenant, responseId);
    return itemsPage(inputItems(named.turnId, asked.data.context ?? [], asked.data.text), query);
  }

  /**
   * Deletes a stored response: it can no longer be retrieved, listed or continued. The log stays
   * append-only — this records `ResponseDeleted` — and the turn stays in its conversation.
   */
  @Delete(':responseId')
  async remove(@Tenant() tenant: TenantContext, @Param('responseId') responseId: string) {
    const { named } = await this.turnOf(tenant, responseId);
    const { tenantId } = tenant;
    await this.sessions.record(tenantId, named.sessionId, [responseDeleted(tenantId, responseId, named.turnId)]);
    return { id: responseId, object: 'response', deleted: true };
  }

  /** A stored response, as it was answered. */
  @Get(':responseId')
  async retrieve(@Tenant() tenant: TenantContext, @Param('responseId') responseId: string) {
    const { named, asked, replied, failed } = await this.turnOf(tenant, responseId);
    return responseObject({
      id: responseId,
      createdAt: Math.floor(Date.parse(asked.recordedAt) / 1000),
      model: replied?.data.model ?? 'parley',
      status: failed ? 'failed' : !replied ? 'in_progress' : replied.data.interrupted ? 'incomplete' : 'completed',
      instructions: asked.data.instructions ?? null,
      previousResponseId: null,
      store: true,
      tools: asked.data.tools ?? [],
      user: null,
      turnId: named.turnId,
      text: replied?.data.text ?? '',
      toolCalls: replied?.data.toolCalls ?? [],
      usage: replied?.data.usage ?? null,
      error: failed ? { code: failed.data.code, message: failed.data.message } : null,
      interrupted: replied?.data.interrupted ?? null,
    });
  }

  /** The response `previous_response_id` names, if it is this tenant's, stored, and answered. */
  private async previous(tenant: TenantContext, id: string, key: string | undefined): Promise<PreviousResponse> {
    const named = parseResponseId(id);
    if (!named) throw previousNotFound(id);
    const info = await this.sessions.streamOf(tenant.tenantId, named.sessionId).catch(() => null);
    if (!info || info.erased) throw previousNotFound(id);
    const place = await this.sessions.turnPlace(tenant.tenantId, named.sessionId, named.turnId);
    if (!place || place.answeredAt === null) throw previousNotFound(id);
    const next = place.nextAskedAt;
    // a retry of the request that continued it: its turn is next, with the same key
    const retried = next !== null && key !== undefined && place.nextKey === key;
    return {
      id,
      ...named,
      endsAt: next === null ? info.version : Math.max(place.answeredAt, next - 1),
      followed: next !== null && !retried,
      nextKey: place.nextKey,
    };
  }

  /** The session a response continues: its own, or — when the conversation went on after it — a fork at it. */
  private async continueFrom(tenant: TenantContext, previous: PreviousResponse, key: string | undefined): Promise<string> {
    if (!previous.followed) return previous.sessionId;
    // a retry of the same branching request finds the fork it made
    const forkId = key ? derivedId(`${tenant.tenantId}\u0000${previous.id}\u0000${key}`, 'fork') : undefined;
    try {
      const fork = await forkSession(this.store, tenant.tenantId, previous.sessionId, { atVersion: previous.endsAt, newSessionId: forkId });
      await this.sessions.published(fork.events);
      return fork.sessionId;
    } catch (error) {
      if (forkId && error instanceof ConcurrencyError) return forkId;
      throw error;
    }
  }

  /** A new conversation: its own session (named by the Idempotency-Key, so a retry finds it). */
  private async startSession(tenant: TenantContext, user: string | undefined, key: string | undefined): Promise<string> {
    const body = user ? { userId: user } : {};
    if (!key) return (await this.sessions.create(tenant.tenantId, body)).sessionId;
    const sessionId = derivedId(`${tenant.tenantId}\u0000responses\u0000${key}`, 'session');
    await this.sessions.ensure(tenant.tenantId, sessionId, body);
    return sessionId;
  }

  /** Ids of the tool calls a previous response made. */
  private async callsOf(previous: PreviousResponse): Promise<Set<string>> {
    const events = await this.store.readStream(sessionStreamId(previous.sessionId), { types: ['AssistantReplied'] });
    const reply = events.find((e) => e.type === 'AssistantReplied' && e.data.turnId === previous.turnId);
    return new Set(reply?.type === 'AssistantReplied' ? (reply.data.toolCalls ?? []).map((c) => c.id) : []);
  }

  /** The conversation up to a previous response, as chat messages (for `store: false`). */
  private async transcript(previous: PreviousResponse): Promise<ClientMessage[]> {
    const state = await sessionStateAt(this.store, previous.sessionId, previous.endsAt);
    return [
      ...(state.summary ? [summaryMessage(state.summary.text)] : []),
      ...state.messages.map((m) => ({ role: m.role, content: m.text })),
    ] as ClientMessage[];
  }

  /** The response as typed Server-Sent Events, each with its `sequence_number`. */
  private async stream(
    reply: FastifyReply,
    run: (options: TurnOptions) => Promise<TurnResult>,
    facts: (result: TurnResult | null, turnId: string) => ResponseFacts,
  ): Promise<void> {
    const sse = new SseResponse(reply);
    let sequence = 0;
    const emit = (type: string, payload: object) => sse.send({ type, sequence_number: sequence++, ...payload }, type);
    let turn: string | null = null;
    let textOpen = false;
    let text = '';
    const start = (turnId: string, headers: Record<string, string> = {}) => {
      if (turn) return;
      turn = turnId;
      sse.open({ 'x-parley-turn-id': turnId, ...headers });
      const response = responseObject(facts(null, turnId));
      emit('response.created', { response });
      emit('response.in_progress', { response });
    };
    const where = (turnId: string) => ({ item_id: messageItemId(turnId), output_index: 0, content_index: 0 });
    const delta = (turnId: string, piece: string) => {
      if (!textOpen) {
        textOpen = true;
        emit('response.output_item.added', { output_index: 0, item: messageItem(turnId, '', 'in_progress') });
        emit('response.content_part.added', { ...where(turnId), part: outputText('') });
      }
      text += piece;
      emit('response.output_text.delta', { ...where(turnId), delta: piece, logprobs: [] });
    };
    try {
      const result = await run({
        stream: {
          onDelta: ({ turnId, delta: piece }) => {
            start(turnId);
            delta(turnId, piece);
          },
          signal: sse.left.signal,
        },
      });
      if (sse.left.signal.aborted) return sse.abandon();
      const { turnId } = result;
      start(turnId, parleyHeaders(result));
      const calls = result.toolCalls ?? [];
      if (!textOpen && (result.reply.text || !calls.length)) delta(turnId, result.reply.text); // a knowledge base answer comes whole
      if (textOpen) {
        emit('response.output_text.done', { ...where(turnId), text, logprobs: [] });
        emit('response.content_part.done', { ...where(turnId), part: outputText(text) });
        emit('response.output_item.done', { output_index: 0, item: messageItem(turnId, text, 'completed') });
      }
      calls.forEach((call, i) => {
        const outputIndex = i + (textOpen ? 1 : 0);
        const item = functionCallItem(call, 'completed');
        emit('response.output_item.added', { output_index: outputIndex, item: functionCallItem(call, 'in_progress') });
        emit('response.function_call_arguments.delta', { item_id: item.id, output_index: outputIndex, delta: call.arguments });
        emit('response.function_call_arguments.done', {
          item_id: item.id,
          output_index: outputIndex,
          name: call.name,
          arguments: call.arguments,
        });
        emit('response.output_item.done', { output_index: outputIndex, item });
      });
      emit('response.completed', { response: responseObject(facts(result, turnId)) });
      sse.end();
    } catch (error) {
      if (!sse.isOpen) throw error; // nothing sent yet: an error answer with its status
      const { status, body } = this.errors.toResponse(error);
      const { code, message } = openAiErrorBody(status, body).error;
      emit('response.failed', { response: { ...responseObject({ ...facts(null, turn!), status: 'failed' }), error: { code, message } } });
      sse.end();
    }
  }
}
