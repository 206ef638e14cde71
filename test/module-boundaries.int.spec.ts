/**
 * The module-boundaries rule only works with Nx's project graph; without one it silently skips.
 * This proves the rule is live: imports that break the layering are errors.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Linter } from 'eslint';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const root = join(__dirname, '..');
const { boundaryConfigs } = jest.requireActual<typeof import('../tools/module-boundaries.cjs')>(join(root, 'tools/module-boundaries.cjs'));

describe('module boundaries', () => {
  const linter = new Linter({ configType: 'flat', cwd: root });
  const config = boundaryConfigs(nx, tseslint.parser);

  beforeAll(() => {
    execFileSync(process.execPath, [require.resolve('nx/bin/nx'), 'show', 'projects'], {
      cwd: root,
      env: { ...process.env, NX_DAEMON: 'false' },
      stdio: 'ignore',
    });
  }, 60_000);

  const violations = async (file: string, code: string) => {
    const messages = linter.verify(code, config, { filename: join(root, file) });
    return messages.filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => m.message);
  };

  it.each([
    ['the domain importing an adapter', 'libs/conversation/src/probe.ts', "import { EventStore } from '@parley/event-store';"],
    ['contracts importing the domain', 'libs/contracts/src/probe.ts', "import { evolveSession } from '@parley/conversation';"],
    ['an adapter importing another adapter', 'libs/messaging/src/probe.ts', "import { EventStore } from '@parley/event-store';"],
    ['production code importing the test harness', 'apps/router/src/probe.ts', "import { waitFor } from '@parley/testing';"],
    ['an app importing another app', 'apps/router/src/probe.ts', "import '../../ingress/src/ingress.module';"],
  ])('rejects %s', async (_, file, code) => {
    expect(await violations(file, `${code}\nexport {};\n`)).toEqual([expect.stringMatching(/^(A project tagged|Imports of apps are forbidden|Projects cannot be imported by a relative|Circular dependency between)/)]);
  });

  it.each([
    ['an app importing runtime, adapters, domain and contracts', 'apps/router/src/probe.ts',
      "import '@parley/runtime';\nimport '@parley/event-store';\nimport '@parley/conversation';\nimport '@parley/contracts';"],
    ['a test importing the test harness', 'libs/event-store/src/probe.int.spec.ts', "import '@parley/testing';"],
  ])('allows %s', async (_, file, code) => {
    expect(await violations(file, `${code}\nexport {};\n`)).toEqual([]);
  });
});
