/** `npm run bench -- baseline` says in a line what it needs, instead of a stack, when it cannot run. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '@parley/testing';

const bench = (env: Record<string, string>) =>
  new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const { PARLEY_BENCH_BASELINE: _unset, ...rest } = process.env;
    execFile(
      process.execPath,
      [join(repoRoot(), 'dist/bench/src/main.js'), 'baseline'],
      { env: { ...rest, ...env } },
      (error, _out, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stderr }),
    );
  });

describe('the baseline comparison', () => {
  it('needs a baseline checkout, and a built one', async () => {
    const unset = await bench({});
    expect(unset.code).toBe(1);
    expect(unset.stderr.trim()).toBe(
      'bench: The baseline scenario compares with another build: set PARLEY_BENCH_BASELINE to a checkout of it',
    );
    const unbuilt = await bench({ PARLEY_BENCH_BASELINE: '/tmp' });
    expect(unbuilt.code).toBe(1);
    expect(unbuilt.stderr.trim()).toBe('bench: /tmp has no build: run "npm ci && npm run build" there first');
  });
});
