import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { entrypoint } from './cluster';

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a built app (`cli`, or a service expected to exit) as a separate process. */
export function runApp(app: string, args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<ProcessResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [entrypoint(app), ...args],
      { env: { ...process.env, NO_COLOR: '1', ...env }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export const runCli = (args: string[], env: Record<string, string> = {}, timeoutMs?: number) => runApp('cli', args, env, timeoutMs);

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
