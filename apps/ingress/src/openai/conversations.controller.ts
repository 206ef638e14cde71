import { randomUUID } from 'node:crypto';
import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Query } from '@nestjs/common';
import { sessionStreamId, type RecordedEvent } from '@parley/contracts';
import {
  addedItems,
  conversationItems,
  derivedId,
  transcriptItems,
  type OpenSession,
  type TranscriptItem,
  conversationChange,
  type ConversationChange,
  type ConversationChangeData,
} from '@parley/conversation';
import { EventStore } from '@parley/event-store';
import { Tenant, type TenantContext } from '../auth/auth.guard';
import { ApiError } from '../http/api-error';
import { ZodPipe } from '../http/zod.pipe';
import { SessionsService } from '../sessions/sessions.service';
import { AddItems, conversationItemsOf, CreateConversation, itemObject, UpdateConversation } from './conversations-shapes';
import { validKey } from './openai-shapes';
import { conversationIdOf, InputItemsQuery, itemsPage } from './responses-shapes';

/**
 * OpenAI's Conversations API over Parley's sessions: every session is a conversation
 * (`conv_<session>`), its items are the transcript, and `POST /v1/responses` with `conversation`
 * is a turn in it. What changes a conversation is recorded in its session's log —
 * `ConversationItemsAdded`, `ConversationItemDeleted`, `SessionMetadataUpdated`,
 * `ConversationDeleted` — so replay and the inspector show it, and later turns' contexts follow it.
 */
@Controller('v1/conversations')
export class ConversationsController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly store: EventStore,
  ) {}

  /** A new conversation, with its first items. An `Idempotency-Key` names it, so a retry finds the one the first attempt made. */
  @Post()
  @HttpCode(200)
  async create(
    @Tenant() tenant: TenantContext,
    @Body(new ZodPipe(CreateConversation)) body: CreateConversation | undefined,
    @Headers('idempotency-key') idempotencyKey?: string,
  ) {
    const key = idempotencyKey === undefined ? undefined : validKey(idempotencyKey);
    const items = conversationItemsOf(body?.items ?? []);
    const metadata = { metadata: body?.metadata ?? {}, ...(body?.user ? { userId: body.user } : {}) };
    const { tenantId } = tenant;
    const sessionId = key
      ? derivedId(`${tenantId}\u0000conversations\u0000${key}`, 'session')
      : (await this.sessions.create(tenantId, metadata)).sessionId;
    if (key) await this.sessions.ensure(tenantId, sessionId, metadata);
    if (items.length)
      await this.record(
        tenant,
        sessionId,
        'ConversationItemsAdded',
        { items },
        key ? derivedId(`${tenantId}\u0000${sessionId}`, 'first-items') : randomUUID(),
      );
    return this.object((await this.sessions.conversation(tenantId, conversationIdOf(sessionId))).state);
  }

  @Get(':conversationId')
  async retrieve(@Tenant() tenant: TenantContext, @Param('conversationId') conversationId: string) {
    return this.object((await this.sessions.conversation(tenant.tenantId, conversationId)).state);
  }

  /** Replaces the conversation's metadata. */
  @Post(':conversationId')
  @HttpCode(200)
  async update(
    @Tenant() tenant: TenantContext,
    @Param('conversationId') conversationId: string,
    @Body(new ZodPipe(UpdateConversation)) body: UpdateConversation,
  ) {
    const { state } = await this.sessions.conversation(tenant.tenantId, conversationId);
    const metadata = body.metadata ?? {};
    await this.record(tenant, state.sessionId, 'SessionMetadataUpdated', { metadata }, randomUUID());
    return this.object({ ...state, metadata });
  }

  /** Deletes the conversation: it is then not found here nor through `/v1/responses`. Its turns stay in the log, as OpenAI keeps the items. */
  @Delete(':conversationId')
  async remove(@Tenant() tenant: TenantContext, @Param('conversationId') conversationId: string) {
    const { state } = await this.sessions.conversation(tenant.tenantId, conversationId);
    await this.record(
      tenant,
      state.sessionId,
      'ConversationDeleted',
      {},
      derivedId(`${tenant.tenantId}\u0000${state.sessionId}`, 'ConversationDeleted'),
    );
    return { id: conversationId, object: 'conversation.deleted', deleted: true };
  }

  /** The conversation's items, newest first by default; `include` is accepted and has nothing to add. */
  @Get(':conversationId/items')
  async listItems(
    @Tenant() tenant: TenantContext,
    @Param('conversationId') conversationId: string,
    @Query(new ZodPipe(InputItemsQuery)) query: InputItemsQuery,
  ) {
    const { items } = await this.items(tenant, conversationId);
    return itemsPage(items.map(itemObject), query);
  }

  /** Adds items without a turn: later responses in the conversation see them. */
  @Post(':conversationId/items')
  @HttpCode(200)
  async addItems(
    @Tenant() tenant: TenantContext,
    @Param('conversationId') conversationId: string,
    @Body(new ZodPipe(AddItems)) body: AddItems,
    @Headers('idempotency-key') idempotencyKey?: string,
  ) {
    const key = idempotencyKey === undefined ? undefined : validKey(idempotencyKey);
    const items = conversationItemsOf(body.items);
    const { state } = await this.sessions.conversation(tenant.tenantId, conversationId);
    const eventId = key ? derivedId(`${tenant.tenantId}\u0000${state.sessionId}\u0000${key}`, 'ConversationItemsAdded') : randomUUID();
    const added = await this.record(tenant, state.sessionId, 'ConversationItemsAdded', { items }, eventId);
    // a retry finds the event the first attempt recorded, and answers with the same items
    const event =
      added ??
      (await this.store.readStream(sessionStreamId(state.sessionId), { types: ['ConversationItemsAdded'] })).find(
        (e) => e.eventId === eventId,
      );
    const data = event?.type === 'ConversationItemsAdded' ? transcriptItems(addedItems(event)).map(itemObject) : [];
    return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: false };
  }

  @Get(':conversationId/items/:itemId')
  async retrieveItem(@Tenant() tenant: TenantContext, @Param('conversationId') conversationId: string, @Param('itemId') itemId: string) {
    return itemObject((await this.item(tenant, conversationId, itemId)).item);
  }

  /** Deletes an item (a function call and its output go together); answers with the conversation. */
  @Delete(':conversationId/items/:itemId')
  async removeItem(@Tenant() tenant: TenantContext, @Param('conversationId') conversationId: string, @Param('itemId') itemId: string) {
    const { state, item } = await this.item(tenant, conversationId, itemId);
    await this.record(tenant, state.sessionId, 'ConversationItemDeleted', { itemId: item.id }, randomUUID());
    return this.object(state); // its id, time and metadata: what an item's deletion leaves as they were
  }

  private object(state: OpenSession) {
    return {
      id: conversationIdOf(state.sessionId),
      object: 'conversation',
      created_at: Math.floor(Date.parse(state.startedAt) / 1000),
      metadata: state.metadata,
    };
  }

  /** The conversation, and every item of it, read from its log. */
  private async items(tenant: TenantContext, conversationId: string): Promise<{ state: OpenSession; items: TranscriptItem[] }> {
    const { state } = await this.sessions.conversation(tenant.tenantId, conversationId);
    return { state, items: conversationItems(await this.store.readStream(sessionStreamId(state.sessionId))) };
  }

  private async item(tenant: TenantContext, conversationId: string, itemId: string): Promise<{ state: OpenSession; item: TranscriptItem }> {
    const { state, items } = await this.items(tenant, conversationId);
    const item = items.find((i) => i.id === itemId);
    if (!item) throw new ApiError('CONVERSATION.ITEM_NOT_FOUND', `Item with id '${itemId}' not found.`, { param: 'item_id' });
    return { state, item };
  }

  /** Appends one event to the conversation's session and publishes it; null when its id was recorded already (a retry). */
  private async record<T extends ConversationChange>(
    tenant: TenantContext,
    sessionId: string,
    type: T,
    data: ConversationChangeData<T>,
    eventId: string,
  ): Promise<RecordedEvent | null> {
    const recorded = await this.sessions.record(tenant.tenantId, sessionId, [conversationChange(type, data, tenant.tenantId, eventId)]);
    return recorded?.[0] ?? null;
  }
}
