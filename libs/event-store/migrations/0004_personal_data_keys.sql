CREATE TABLE "data_keys" (
	"stream_id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"user_id" text,
	"key" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "erased_users" (
	"tenant_id" text NOT NULL,
	"user_id" text NOT NULL,
	"erased_at" timestamp with time zone DEFAULT now() NOT NULL,
	"streams" integer NOT NULL,
	CONSTRAINT "erased_users_tenant_id_user_id_pk" PRIMARY KEY("tenant_id","user_id")
);
--> statement-breakpoint
ALTER TABLE "streams" ADD COLUMN "user_id" text;--> statement-breakpoint
ALTER TABLE "streams" ADD COLUMN "erased_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "data_keys_user_idx" ON "data_keys" USING btree ("tenant_id","user_id");--> statement-breakpoint
CREATE INDEX "streams_user_idx" ON "streams" USING btree ("tenant_id","user_id");