import { sql } from 'drizzle-orm';
import type { SessionUsage } from '@parley/conversation';
import type { Db } from './database';
import { z } from 'zod';
import { Col, rowsOf } from './rows';

/**
 * A tenant's answered turns and tokens, split like a session's: from the knowledge base, by the
 * LLM statelessly, by the LLM statefully — read from the counters the answers add to as they are
 * recorded (`UsageIncrement`, in the same statement), so it costs the same at any size of log.
 * The calls that summarized long sessions count as stateful tokens (not turns): they are what state
 * costs.
 */
export async function tenantUsage(db: Pick<Db, 'execute'>, tenantId: string): Promise<SessionUsage> {
  const result = await db.execute(sql`
    select kind, sum(turns)::bigint as turns, sum(prompt_tokens)::bigint as prompt_tokens, sum(completion_tokens)::bigint as completion_tokens
    from tenant_usage where tenant_id = ${tenantId} group by kind`);
  const usage: SessionUsage = {
    faq: { turns: 0, promptTokens: 0, completionTokens: 0 },
    stateless: { turns: 0, promptTokens: 0, completionTokens: 0 },
    stateful: { turns: 0, promptTokens: 0, completionTokens: 0 },
  };
  for (const row of rowsOf(
    result,
    z.object({ kind: Col.text, turns: Col.bigint, prompt_tokens: Col.bigint, completion_tokens: Col.bigint }),
    'tenant usage',
  )) {
    if (row.kind !== 'faq' && row.kind !== 'stateless' && row.kind !== 'stateful') continue;
    usage[row.kind] = {
      turns: Number(row.turns),
      promptTokens: Number(row.prompt_tokens),
      completionTokens: Number(row.completion_tokens),
    };
  }
  return usage;
}

/**
 * Counts a tenant's usage afresh from the log (a scan: after importing events, which are not
 * answered here and so were not counted as they were recorded).
 */
export async function recountUsage(db: Pick<Db, 'execute'>, tenantId: string): Promise<void> {
  await db.execute(sql`delete from tenant_usage where tenant_id = ${tenantId}`);
  await db.execute(sql`
    insert into tenant_usage (tenant_id, kind, shard, turns, prompt_tokens, completion_tokens)
    select ${tenantId}, kind, 0, sum(turns), sum(prompt_tokens), sum(completion_tokens) from (
      select case when coalesce(r.data->>'route', 'llm') = 'faq' then 'faq' when r.data->>'mode' = 'stateless' then 'stateless' else 'stateful' end as kind,
             1 as turns,
             coalesce((a.data->'usage'->>'promptTokens')::bigint, 0) as prompt_tokens,
             coalesce((a.data->'usage'->>'completionTokens')::bigint, 0) as completion_tokens
      from events a
      join events r on r.stream_id = a.stream_id and r.type = 'TurnRouted' and r.data->>'turnId' = a.data->>'turnId'
      where a.type = 'AssistantReplied' and a.tenant_id = ${tenantId}
      union all
      select 'stateful', 0, coalesce((data->'usage'->>'promptTokens')::bigint, 0), coalesce((data->'usage'->>'completionTokens')::bigint, 0)
      from events where type = 'ConversationSummarized' and tenant_id = ${tenantId}
    ) counted
    group by kind`);
}
