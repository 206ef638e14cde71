import { sql } from 'drizzle-orm';
import type { SessionUsage } from '@parley/conversation';
import type { Db } from './database';

/**
 * A tenant's answered turns and tokens, split like a session's: from the knowledge base, by the
 * LLM statelessly, by the LLM statefully. Computed from the log (each reply joined to its turn's
 * routing decision), so it is exact at any moment; usage and turn ids are never sealed. The calls
 * that summarized long sessions count as stateful tokens (not turns): they are what state costs.
 */
export async function tenantUsage(db: Pick<Db, 'execute'>, tenantId: string): Promise<SessionUsage> {
  const result = await db.execute(sql`
    select coalesce(r.data->>'route', 'llm') as route, r.data->>'mode' as mode, count(*)::int as turns,
           coalesce(sum((a.data->'usage'->>'promptTokens')::int), 0)::int as prompt_tokens,
           coalesce(sum((a.data->'usage'->>'completionTokens')::int), 0)::int as completion_tokens
    from events a
    join events r on r.stream_id = a.stream_id and r.type = 'TurnRouted' and r.data->>'turnId' = a.data->>'turnId'
    where a.type = 'AssistantReplied' and a.tenant_id = ${tenantId}
    group by 1, 2
    union all
    select 'llm', 'stateful', 0,
           coalesce(sum((data->'usage'->>'promptTokens')::int), 0)::int, coalesce(sum((data->'usage'->>'completionTokens')::int), 0)::int
    from events where type = 'ConversationSummarized' and tenant_id = ${tenantId}`);
  const usage: SessionUsage = {
    faq: { turns: 0, promptTokens: 0, completionTokens: 0 },
    stateless: { turns: 0, promptTokens: 0, completionTokens: 0 },
    stateful: { turns: 0, promptTokens: 0, completionTokens: 0 },
  };
  for (const row of result.rows as { route: string; mode: string; turns: number; prompt_tokens: number; completion_tokens: number }[]) {
    const kind = row.route === 'faq' ? 'faq' : row.mode === 'stateless' ? 'stateless' : 'stateful';
    usage[kind].turns += row.turns;
    usage[kind].promptTokens += row.prompt_tokens;
    usage[kind].completionTokens += row.completion_tokens;
  }
  return usage;
}
