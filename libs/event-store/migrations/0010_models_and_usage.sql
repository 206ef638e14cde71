CREATE TABLE "knowledge_base_models" (
	"tenant_id" text NOT NULL,
	"version" integer NOT NULL,
	"format" integer NOT NULL,
	"model" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "knowledge_base_models_tenant_id_version_format_pk" PRIMARY KEY("tenant_id","version","format")
);
--> statement-breakpoint
CREATE TABLE "tenant_usage" (
	"tenant_id" text NOT NULL,
	"kind" text NOT NULL,
	"shard" integer NOT NULL,
	"turns" bigint DEFAULT 0 NOT NULL,
	"prompt_tokens" bigint DEFAULT 0 NOT NULL,
	"completion_tokens" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "tenant_usage_tenant_id_kind_shard_pk" PRIMARY KEY("tenant_id","kind","shard")
);
--> statement-breakpoint
-- usage recorded before the counters: counted once from the log (each reply joined to its turn's routing; summaries as stateful tokens)
INSERT INTO "tenant_usage" ("tenant_id", "kind", "shard", "turns", "prompt_tokens", "completion_tokens")
SELECT tenant_id, kind, 0, sum(turns), sum(prompt_tokens), sum(completion_tokens) FROM (
  SELECT a.tenant_id,
         CASE WHEN coalesce(r.data->>'route', 'llm') = 'faq' THEN 'faq' WHEN r.data->>'mode' = 'stateless' THEN 'stateless' ELSE 'stateful' END AS kind,
         1 AS turns,
         coalesce((a.data->'usage'->>'promptTokens')::bigint, 0) AS prompt_tokens,
         coalesce((a.data->'usage'->>'completionTokens')::bigint, 0) AS completion_tokens
  FROM events a
  JOIN events r ON r.stream_id = a.stream_id AND r.type = 'TurnRouted' AND r.data->>'turnId' = a.data->>'turnId'
  WHERE a.type = 'AssistantReplied'
  UNION ALL
  SELECT tenant_id, 'stateful', 0, coalesce((data->'usage'->>'promptTokens')::bigint, 0), coalesce((data->'usage'->>'completionTokens')::bigint, 0)
  FROM events WHERE type = 'ConversationSummarized'
) counted
GROUP BY tenant_id, kind;
