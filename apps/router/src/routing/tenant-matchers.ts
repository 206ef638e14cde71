import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { sql } from 'drizzle-orm';
import { KnowledgeBaseRepository, type Db } from '@parley/event-store';
import { FaqMatcher } from '@parley/knowledge';

/**
 * Each tenant's FAQ matcher, trained from its latest knowledge base version: all of them at
 * startup, and again when a newer version appears (checked at most every `refreshMs`).
 */
@Injectable()
export class TenantMatchers implements OnApplicationBootstrap {
  private readonly log = new Logger('TenantMatchers');
  private readonly matchers = new Map<string, FaqMatcher | null>();
  private readonly checkedAt = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly refreshMs: number,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const tenants = await this.db.execute(sql`select distinct tenant_id from knowledge_bases`);
    for (const { tenant_id } of tenants.rows as { tenant_id: string }[]) await this.forTenant(tenant_id);
  }

  async forTenant(tenantId: string): Promise<FaqMatcher | null> {
    const now = Date.now();
    if (this.matchers.has(tenantId) && now - (this.checkedAt.get(tenantId) ?? 0) < this.refreshMs) return this.matchers.get(tenantId)!;
    this.checkedAt.set(tenantId, now);
    const repository = new KnowledgeBaseRepository(this.db);
    const current = this.matchers.get(tenantId) ?? null;
    const [latest] = await repository.versions(tenantId);
    if (!latest) {
      this.matchers.set(tenantId, null);
      return null;
    }
    if (current?.kbVersion === latest.version) return current;
    const kb = await repository.get(tenantId, latest.version);
    if (!kb) return current;
    const started = performance.now();
    const matcher = FaqMatcher.train(kb.version, kb.entries);
    this.log.log(`tenant ${tenantId}: knowledge base v${kb.version} (${kb.entries.length} entries) trained in ${Math.round(performance.now() - started)} ms`);
    this.matchers.set(tenantId, matcher);
    return matcher;
  }
}
