import { Controller, Delete, Inject, Param } from '@nestjs/common';
import { DEFAULT_TENANT, UserIdParam } from '@parley/contracts';
import { eraseUser } from '@parley/event-store';
import { RESOURCES, type Connections } from '@parley/runtime';
import { ApiError } from '../http/api-error';

@Controller('v1/users')
export class UsersController {
  constructor(@Inject(RESOURCES) private readonly resources: Connections) {}

  /**
   * Erases everything personal Parley holds about a user: their sessions' keys are destroyed (the
   * events stay in the log, unreadable), their read models deleted, and a tombstone refuses any
   * later write for them. Idempotent.
   */
  @Delete(':userId')
  async erase(@Param('userId') userId: string) {
    if (!UserIdParam.safeParse(userId).success) throw new ApiError('REQUEST.INVALID', 'userId must be 1 to 200 characters');
    const result = await eraseUser(this.resources.database.db, DEFAULT_TENANT, userId);
    return { userId, erased: true, streamsErased: result.streams };
  }
}
