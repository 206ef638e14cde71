import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './libs/event-store/src/schema.ts',
  out: './libs/event-store/migrations',
});
