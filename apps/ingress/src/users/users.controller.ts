import { Body, Controller, Delete, Get, Inject, Param, Put } from '@nestjs/common';
import { PutMemoryBody, UserIdParam, userStreamId, type NewEvent } from '@parley/contracts';
import { eraseUser, EventStore, StreamErasedError, UserErasedError, UserMemoryStore } from '@parley/event-store';
import { forgottenByApi, rememberedByApi } from '@parley/conversation';
import { EventPublisher } from '@parley/messaging';
import { RESOURCES, type Connections } from '@parley/runtime';
import { randomUUID } from 'node:crypto';
import { ApiError } from '../http/api-error';
import { ZodPipe } from '../http/zod.pipe';
import { Tenant, type TenantContext } from '../auth/auth.guard';

function validUserId(userId: string): string {
  if (!UserIdParam.safeParse(userId).success) throw new ApiError('REQUEST.INVALID', 'userId must be 1 to 200 characters');
  return userId;
}

const userErased = (userId: string) => new ApiError('USER.ERASED', `User ${userId} was erased; no data is kept for them`);

@Controller('v1/users')
export class UsersController {
  private readonly memory: UserMemoryStore;

  constructor(
    @Inject(RESOURCES) private readonly resources: Connections,
    private readonly store: EventStore,
    private readonly publisher: EventPublisher,
  ) {
    this.memory = new UserMemoryStore(store);
  }

  /** What the agent remembers about the user, across sessions. */
  @Get(':userId/memory')
  async getMemory(@Tenant() { tenantId }: TenantContext, @Param('userId') userId: string) {
    validUserId(userId);
    const info = await this.store.streamInfo(userStreamId(tenantId, userId));
    if (info?.erased) throw userErased(userId);
    if (!info && !(await this.store.userKnown(tenantId, userId)))
      throw new ApiError('USER.NOT_FOUND', `No user ${userId}: no session or memory of theirs is kept`);
    return { userId, ...(await this.memory.load(tenantId, userId)) };
  }

  /** Remembers (or replaces) facts about the user. */
  @Put(':userId/memory')
  async putMemory(
    @Tenant() { tenantId }: TenantContext,
    @Param('userId') userId: string,
    @Body(new ZodPipe(PutMemoryBody)) body: PutMemoryBody,
  ) {
    validUserId(userId);
    await this.write(tenantId, userId, rememberedByApi(tenantId, body.facts, randomUUID));
    return { userId, ...(await this.memory.load(tenantId, userId)) };
  }

  /** Forgets one fact. */
  @Delete(':userId/memory/:name')
  async forget(@Tenant() { tenantId }: TenantContext, @Param('userId') userId: string, @Param('name') name: string) {
    validUserId(userId);
    const memory = await this.memory.load(tenantId, userId);
    const forgotten = forgottenByApi(memory, tenantId, name, randomUUID);
    if (!forgotten) throw new ApiError('MEMORY.NOT_FOUND', `No fact "${name}" is remembered for user ${userId}`);
    await this.write(tenantId, userId, [forgotten]);
    return { userId, ...(await this.memory.load(tenantId, userId)) };
  }

  /**
   * Erases everything personal Parley holds about a user: the keys of their sessions and memory
   * are destroyed (the events stay in the log, unreadable), their read models deleted, and a
   * tombstone refuses any later write for them. Idempotent.
   */
  @Delete(':userId')
  async erase(@Tenant() { tenantId }: TenantContext, @Param('userId') userId: string) {
    validUserId(userId);
    const result = await eraseUser(this.resources.database.db, tenantId, userId);
    // every process (this one at once) drops what it cached of those streams
    this.resources.erasures.announce(result.streamIds);
    return { userId, erased: true, streamsErased: result.streams };
  }

  private async write(tenantId: string, userId: string, events: NewEvent[]): Promise<void> {
    try {
      const recorded = await this.memory.append(tenantId, userId, events);
      await this.publisher.publish(this.store.sealed(recorded));
    } catch (error) {
      if (error instanceof UserErasedError || error instanceof StreamErasedError) throw userErased(userId);
      throw error;
    }
  }
}
