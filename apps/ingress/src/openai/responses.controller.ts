import { Body, Controller, Delete, Get, Headers, Param, Post, Query, Res } from '@nestjs/common';
import { type ClientMessage } from '@parley/contracts';
import { responseDeleted } from '@parley/conversation';
import type { FastifyReply } from 'fastify';
import { Tenant, type TenantContext } from '../auth/auth.guard';
import { ApiError } from '../http/api-error';
import { ZodPipe } from '../http/zod.pipe';
import { SessionsService } from '../sessions/sessions.service';
import { TurnsService } from '../turns/turns.service';
import type { TurnOptions, TurnResult } from '../turns/turn-result';
import { ModelCatalog, responsesGeneration } from './generation-params';
import { parleyHeaders, reconcile, toolTurnContext, validKey } from './openai-shapes';
import {
  functionTools,
  inputItems,
  InputItemsQuery,
  inputMessages,
  itemsPage,
  responseIdOf,
  responseObject,
  ResponsesRequest,
  type ResponseFacts,
} from './responses-shapes';
import { streamResponse } from './responses-stream';
import { StoredResponses } from './stored-responses';

/**
 * `POST /v1/responses` (and `GET /v1/responses/{id}`) over Parley's turns and sessions. A stored
 * response lives in a session of the log, so `previous_response_id` never expires: continuing the
 * latest response of a conversation continues its session; continuing an earlier one forks the
 * session at that point (`SessionForked`), as OpenAI's branching does. `store: false` is a
 * stateless turn whose context is the previous conversation (if any) and the input.
 */
@Controller('v1/responses')
export class ResponsesController {
  constructor(
    private readonly turns: TurnsService,
    private readonly sessions: SessionsService,
    private readonly responses: StoredResponses,
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
    const previous = body.previous_response_id ? await this.responses.previous(tenant, body.previous_response_id, key) : null;
    const generation = responsesGeneration(body, this.models.forTenant(tenant.settings).resolve(body.model));
    const base: TurnOptions = { tools, ...(key ? { idempotencyKey: key } : {}), ...(generation ? { generation } : {}) };

    let sessionId: string | null = null;
    let run: (options: TurnOptions) => Promise<TurnResult>;
    if (!store) {
      const all = [...(previous ? await this.responses.transcript(previous) : []), ...said];
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
          ? await this.responses.continueFrom(tenant, previous, key)
          : await this.responses.startSession(tenant, body.user, key);
      sessionId = session;
      // the calls the previous response (or the conversation) made are in the log already; the input brings their outputs
      const known = previous
        ? await this.responses.callsOf(previous)
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
    if (body.stream) return streamResponse(reply, run, facts);
    const result = await run({});
    void reply
      .status(200)
      .headers(parleyHeaders(result))
      .send({
        ...responseObject(facts(result, result.turnId)),
        parley: { turnId: result.turnId, sessionId: result.sessionId, route: result.route },
      });
  }

  /** What a stored response was given: the items its request brought, and the user's message. */
  @Get(':responseId/input_items')
  async listInputItems(
    @Tenant() tenant: TenantContext,
    @Param('responseId') responseId: string,
    @Query(new ZodPipe(InputItemsQuery)) query: InputItemsQuery,
  ) {
    const { named, asked } = await this.responses.turnOf(tenant, responseId);
    return itemsPage(inputItems(named.turnId, asked.data.context ?? [], asked.data.text), query);
  }

  /**
   * Deletes a stored response: it can no longer be retrieved, listed or continued. The log stays
   * append-only — this records `ResponseDeleted` — and the turn stays in its conversation.
   */
  @Delete(':responseId')
  async remove(@Tenant() tenant: TenantContext, @Param('responseId') responseId: string) {
    const { named } = await this.responses.turnOf(tenant, responseId);
    const { tenantId } = tenant;
    await this.sessions.record(tenantId, named.sessionId, [responseDeleted(tenantId, responseId, named.turnId)]);
    return { id: responseId, object: 'response', deleted: true };
  }

  /** A stored response, as it was answered. */
  @Get(':responseId')
  async retrieve(@Tenant() tenant: TenantContext, @Param('responseId') responseId: string) {
    const { named, asked, replied, failed } = await this.responses.turnOf(tenant, responseId);
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
}
