// Copies what the compiled code needs beside it (migrations, the inspector page) and marks the CLI executable.
import { chmodSync, cpSync, rmSync, writeFileSync } from 'node:fs';

rmSync('dist/libs/event-store/migrations', { recursive: true, force: true });
cpSync('libs/event-store/migrations', 'dist/libs/event-store/migrations', { recursive: true });
chmodSync('dist/apps/cli/src/main.js', 0o755);
// the inspector page (served by ingress from beside its compiled controller)
cpSync('apps/ingress/src/inspect/page', 'dist/apps/ingress/src/inspect/page', { recursive: true });

// what tools/build-if-changed.cjs compares the sources with
writeFileSync('dist/.build-stamp', `${new Date().toISOString()}\n`);
