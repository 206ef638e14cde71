CREATE TABLE "caller_keys" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"key" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "caller_users" (
	"tenant_id" text NOT NULL,
	"caller_hash" text NOT NULL,
	"user_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "caller_users_tenant_id_caller_hash_pk" PRIMARY KEY("tenant_id","caller_hash")
);
--> statement-breakpoint
CREATE INDEX "caller_users_user_idx" ON "caller_users" USING btree ("tenant_id","user_id");