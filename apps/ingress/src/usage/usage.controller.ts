import { Controller, Get, Inject } from '@nestjs/common';
import { tenantUsage } from '@parley/event-store';
import { RESOURCES, type Connections } from '@parley/runtime';
import { Tenant, type TenantContext } from '../auth/auth.guard';

@Controller('v1/usage')
export class UsageController {
  constructor(@Inject(RESOURCES) private readonly resources: Connections) {}

  /** The tenant's answered turns and tokens: from the knowledge base, stateless LLM, stateful LLM. */
  @Get()
  async usage(@Tenant() { tenantId }: TenantContext) {
    return { tenantId, usage: await tenantUsage(this.resources.database.db, tenantId) };
  }
}
