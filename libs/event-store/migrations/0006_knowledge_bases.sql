CREATE TABLE "knowledge_bases" (
	"tenant_id" text NOT NULL,
	"version" integer NOT NULL,
	"source" text NOT NULL,
	"entries" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "knowledge_bases_tenant_id_version_pk" PRIMARY KEY("tenant_id","version")
);
