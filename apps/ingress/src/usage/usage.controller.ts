import { Controller, Get, Inject } from '@nestjs/common';
import { DEFAULT_TENANT } from '@parley/contracts';
import { tenantUsage } from '@parley/event-store';
import { RESOURCES, type Connections } from '@parley/runtime';

@Controller('v1/usage')
export class UsageController {
  constructor(@Inject(RESOURCES) private readonly resources: Connections) {}

  /** The tenant's answered turns and tokens: from the knowledge base, stateless LLM, stateful LLM. */
  @Get()
  async usage() {
    return { tenantId: DEFAULT_TENANT, usage: await tenantUsage(this.resources.database.db, DEFAULT_TENANT) };
  }
}
