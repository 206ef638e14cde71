CREATE TABLE "dead_letters" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"service" text NOT NULL,
	"consumer" text NOT NULL,
	"subject" text NOT NULL,
	"reason" text NOT NULL,
	"deliveries" integer NOT NULL,
	"failed_at" timestamp with time zone NOT NULL,
	"payload" text NOT NULL,
	"retry_requested_at" timestamp with time zone
);
