// Copies what the compiled code needs beside it (migrations) and marks the CLI executable.
import { chmodSync, cpSync, rmSync } from 'node:fs';

rmSync('dist/libs/event-store/migrations', { recursive: true, force: true });
cpSync('libs/event-store/migrations', 'dist/libs/event-store/migrations', { recursive: true });
chmodSync('dist/apps/cli/src/main.js', 0o755);
