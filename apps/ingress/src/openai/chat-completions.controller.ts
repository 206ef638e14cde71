import { createHash } from 'node:crypto';
import { Body, Controller, Get, Headers, Param, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Tenant, type TenantContext } from '../auth/auth.guard';
import { ApiError, ApiExceptionFilter, openAiErrorBody } from '../http/api-error';
import { ZodPipe } from '../http/zod.pipe';
import { SessionsService } from '../sessions/sessions.service';
import { TurnsService } from '../turns/turns.service';
import type { TurnOptions, TurnResult } from '../turns/turn-result';
import { chatGeneration, ModelCatalog } from './generation-params';
import {
  ChatCompletionRequest,
  clientMessages,
  openAiToolCalls,
  parleyHeaders,
  reconcile,
  toolSpecs,
  toolTurnContext,
  validKey,
} from './openai-shapes';
import { SseResponse } from '../http/sse-response';
import { VoiceSessions } from './voice-sessions';

/**
 * `POST /v1/chat/completions`, shaped exactly as OpenAI's, over Parley's turns. Without a
 * conversation key it is the classic stateless API (the client's messages are the context); with
 * one — `X-Parley-Session`, `user`, or Vapi's `call.id` — Parley keeps the conversation, adds only
 * the client's new message(s) to it, and notices when the client's copy of the last reply is
 * shorter than what was generated (the user barged in). The hybrid router applies either way.
 */
@Controller('v1')
export class ChatCompletionsController {
  private readonly errors = new ApiExceptionFilter();

  constructor(
    private readonly turns: TurnsService,
    private readonly sessions: SessionsService,
    private readonly catalog: ModelCatalog,
    private readonly voice: VoiceSessions,
  ) {}

  /** The models the tenant's requests may name: `parley` (its default) and those it allows. */
  @Get('models')
  models(@Tenant() tenant: TenantContext) {
    return { object: 'list', data: this.catalog.forTenant(tenant.settings).ids.map(modelObject) };
  }

  @Get('models/:model')
  model(@Tenant() tenant: TenantContext, @Param('model') id: string) {
    const models = this.catalog.forTenant(tenant.settings);
    if (!models.has(id)) models.resolve(id); // throws model_not_found
    return modelObject(id);
  }

  @Post('chat/completions')
  async create(
    @Tenant() tenant: TenantContext,
    @Body(new ZodPipe(ChatCompletionRequest)) body: ChatCompletionRequest,
    @Res() reply: FastifyReply,
    @Headers('x-parley-session') sessionHeader?: string,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<void> {
    const created = Math.floor(Date.now() / 1000);
    const model = body.model ?? 'parley';
    const run = await this.plan(tenant, body, sessionHeader, idempotencyKey);
    if (body.stream) return this.stream(reply, run, { created, model, includeUsage: body.stream_options?.include_usage === true });
    const result = await run({});
    void reply
      .status(200)
      .headers(parleyHeaders(result))
      .send({
        id: `chatcmpl-${result.turnId}`,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: result.toolCalls?.length && !result.reply.text ? null : result.reply.text,
              refusal: null,
              ...(result.toolCalls?.length ? { tool_calls: openAiToolCalls(result.toolCalls) } : {}),
            },
            logprobs: null,
            finish_reason: result.toolCalls?.length ? 'tool_calls' : 'stop',
          },
        ],
        usage: usageOf(result),
        system_fingerprint: null,
        parley: { turnId: result.turnId, sessionId: result.sessionId, route: result.route },
      });
  }

  /** Which turn the request is: stateless with the client's context, or in the conversation its key names. */
  private async plan(
    tenant: TenantContext,
    body: ChatCompletionRequest,
    sessionHeader: string | undefined,
    idempotencyKey: string | undefined,
  ): Promise<(options: TurnOptions) => Promise<TurnResult>> {
    const messages = clientMessages(body.messages);
    const tools = toolSpecs(body.tools);
    const generation = chatGeneration(body, this.catalog.forTenant(tenant.settings).resolve(body.model));
    const base: TurnOptions = {
      tools,
      ...(idempotencyKey ? { idempotencyKey: validKey(idempotencyKey) } : {}),
      ...(generation ? { generation } : {}),
    };
    const conversation = sessionHeader ?? (body.call?.id ? `call:${body.call.id}` : undefined);
    if (!conversation && !body.user) {
      const last = messages[messages.length - 1];
      const asked = last.role === 'user';
      // tool results sent back without a new user message continue the conversation as sent
      return (options) =>
        this.turns.stateless(tenant, asked ? last.content : '', { ...base, ...options, context: asked ? messages.slice(0, -1) : messages });
    }
    const added = reconcile(messages);
    if (!added) {
      throw new ApiError(
        'REQUEST.INVALID',
        "With a conversation key (X-Parley-Session, user or call.id), messages must end with the user's new message or tool results",
        { param: 'messages' },
      );
    }
    // a client that resends the history names the turn by it: a retry of the same request (same
    // conversation, same number of user messages, same new part) is the same turn, key or no key
    const resends = Boolean(body.call?.id) || messages.some((m) => m.role === 'assistant');
    const fresh = createHash('sha256')
      .update(JSON.stringify([added.text, added.toolResults]))
      .digest('hex')
      .slice(0, 32);
    const historyKey = `history:${messages.filter((m) => m.role === 'user').length}:${fresh}`;
    const options: TurnOptions = {
      ...base,
      instructions: added.instructions,
      ...(!base.idempotencyKey && resends ? { idempotencyKey: historyKey } : {}),
    };
    if (!conversation) {
      const context = toolTurnContext(added, new Set());
      return (more) =>
        this.turns.forUser(tenant, body.user!, added.text, 'auto', { ...options, ...(context.length ? { context } : {}), ...more });
    }
    const number = body.customer?.number ?? body.call?.customer?.number ?? undefined;
    const sessionId = await this.voice.sessionFor(
      tenant.tenantId,
      conversation,
      await this.voice.callerUser(tenant, number, 'customer.number'),
    );
    const { state } = await this.sessions.state(tenant.tenantId, sessionId);
    // a new conversation takes in what the client brings (a voice platform's spoken greeting, say)
    const isNew = state.messages.length === 0 && state.summary === null;
    const lastReply = [...state.messages].reverse().find((m) => m.role === 'assistant');
    if (!isNew && added.lastAssistant !== null && !added.toolResults.length)
      await this.voice.noteWhatWasHeard(tenant, state, added.lastAssistant.content ?? '');
    const context = isNew
      ? [...added.earlier, ...added.toolResults]
      : toolTurnContext(added, new Set((lastReply?.toolCalls ?? []).map((c) => c.id)));
    return (more) =>
      this.turns.inSession(tenant, sessionId, added.text, 'auto', { ...options, ...(context.length ? { context } : {}), ...more });
  }

  /** `chat.completion.chunk`s as Server-Sent Events, the same id and created on each, then `[DONE]`. */
  private async stream(
    reply: FastifyReply,
    run: (options: TurnOptions) => Promise<TurnResult>,
    meta: { created: number; model: string; includeUsage: boolean },
  ): Promise<void> {
    const sse = new SseResponse(reply);
    let id: string | null = null;
    const chunk = (delta: object, finish: string | null) => ({
      id,
      object: 'chat.completion.chunk',
      created: meta.created,
      model: meta.model,
      system_fingerprint: null,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
    const open = (turnId: string, headers: Record<string, string> = {}) => {
      if (id) return;
      id = `chatcmpl-${turnId}`;
      sse.open({ 'x-parley-turn-id': turnId, ...headers });
      sse.send(chunk({ role: 'assistant', content: '', refusal: null }, null));
    };
    let streamed = false;
    try {
      const result = await run({
        stream: {
          onDelta: ({ turnId, delta }) => {
            open(turnId);
            streamed = true;
            sse.send(chunk({ content: delta }, null));
          },
          signal: sse.left.signal,
        },
      });
      if (sse.left.signal.aborted) return sse.abandon();
      open(result.turnId, parleyHeaders(result));
      if (!streamed && result.reply.text) sse.send(chunk({ content: result.reply.text }, null)); // a knowledge base answer comes whole
      if (result.toolCalls?.length)
        sse.send(chunk({ tool_calls: openAiToolCalls(result.toolCalls).map((call, index) => ({ index, ...call })) }, null));
      sse.send(chunk({}, result.toolCalls?.length ? 'tool_calls' : 'stop'));
      if (meta.includeUsage)
        sse.send({
          id,
          object: 'chat.completion.chunk',
          created: meta.created,
          model: meta.model,
          system_fingerprint: null,
          choices: [],
          usage: usageOf(result),
        });
      sse.end('data: [DONE]\n\n');
    } catch (error) {
      if (!sse.isOpen) throw error; // nothing sent yet: an error answer with its status
      const { status, body } = this.errors.toResponse(error);
      sse.send(openAiErrorBody(status, body));
      sse.end('data: [DONE]\n\n');
    }
  }
}

const modelObject = (id: string) => ({ id, object: 'model', created: 0, owned_by: 'parley' });

function usageOf(result: TurnResult) {
  const prompt = result.usage?.promptTokens ?? 0;
  const completion = result.usage?.completionTokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}
