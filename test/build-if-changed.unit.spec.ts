/** `npm run parley` and friends build only when a source changed since the last build. */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { needsBuild, STAMP } = jest.requireActual<typeof import('../tools/build-if-changed.cjs')>(
  join(__dirname, '..', 'tools', 'build-if-changed.cjs'),
);

describe('building only when something changed', () => {
  let root: string;
  const at = (path: string, seconds: number) => utimesSync(join(root, path), seconds, seconds);

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'parley-build-'));
    mkdirSync(join(root, 'apps/cli/src'), { recursive: true });
    mkdirSync(join(root, 'dist'), { recursive: true });
    writeFileSync(join(root, 'apps/cli/src/main.ts'), 'export {};\n');
    writeFileSync(join(root, 'package-lock.json'), '{}');
    for (const path of ['apps/cli/src/main.ts', 'apps/cli/src', 'apps/cli', 'apps', 'package-lock.json']) at(path, 1_000);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('builds what was never built', () => {
    expect(needsBuild(root)).toBe(true);
  });

  it('skips the build when the last one is newer than every source', () => {
    writeFileSync(join(root, STAMP), '');
    at(STAMP, 2_000);
    expect(needsBuild(root)).toBe(false);
  });

  it('builds again after a source changed, or a file was added or removed', () => {
    writeFileSync(join(root, STAMP), '');
    at(STAMP, 2_000);
    at('apps/cli/src/main.ts', 3_000);
    expect(needsBuild(root)).toBe(true);
    at('apps/cli/src/main.ts', 1_000);
    rmSync(join(root, 'apps/cli/src/main.ts')); // the directory's time moves
    expect(needsBuild(root)).toBe(true);
  });

  it('builds again after the dependencies changed', () => {
    writeFileSync(join(root, STAMP), '');
    at(STAMP, 2_000);
    at('package-lock.json', 3_000);
    expect(needsBuild(root)).toBe(true);
  });
});
