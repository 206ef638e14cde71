/**
 * The lint rules are proven live here, with the repository's own configuration
 * (`tools/module-boundaries.cjs`, which `eslint.config.mjs` is): the module-boundaries rule (it
 * only works with Nx's project graph; without one it silently skips), the imports the layers may
 * not make, and typescript-eslint's recommended rules.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Linter } from 'eslint';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const root = join(__dirname, '..');
const { lintConfigs } = jest.requireActual<typeof import('../tools/module-boundaries.cjs')>(join(root, 'tools/module-boundaries.cjs'));

describe('module boundaries', () => {
  const linter = new Linter({ configType: 'flat', cwd: root });
  const config = lintConfigs(nx, tseslint);

  beforeAll(() => {
    execFileSync(process.execPath, [require.resolve('nx/bin/nx'), 'show', 'projects'], {
      cwd: root,
      env: { ...process.env, NX_DAEMON: 'false' },
      stdio: 'ignore',
    });
  }, 60_000);

  const violations = async (file: string, code: string, rule = '@nx/enforce-module-boundaries') => {
    const messages = linter.verify(code, config, { filename: join(root, file) });
    return messages.filter((m) => m.ruleId === rule).map((m) => m.message);
  };

  it.each([
    ['the domain importing an adapter', 'libs/conversation/src/probe.ts', "import { EventStore } from '@parley/event-store';"],
    ['contracts importing the domain', 'libs/contracts/src/probe.ts', "import { evolveSession } from '@parley/conversation';"],
    ['an adapter importing another adapter', 'libs/messaging/src/probe.ts', "import { EventStore } from '@parley/event-store';"],
    ['production code importing the test harness', 'apps/router/src/probe.ts', "import { waitFor } from '@parley/testing';"],
    ['an app importing another app', 'apps/router/src/probe.ts', "import '../../ingress/src/ingress.module';"],
  ])('rejects %s', async (_, file, code) => {
    expect(await violations(file, `${code}\nexport {};\n`)).toEqual([
      expect.stringMatching(
        /^(A project tagged|Imports of apps are forbidden|Projects cannot be imported by a relative|Circular dependency between)/,
      ),
    ]);
  });

  it.each([
    [
      'an app importing runtime, adapters, domain and contracts',
      'apps/router/src/probe.ts',
      "import '@parley/runtime';\nimport '@parley/event-store';\nimport '@parley/conversation';\nimport '@parley/contracts';",
    ],
    ['a test importing the test harness', 'libs/event-store/src/probe.int.spec.ts', "import '@parley/testing';"],
  ])('allows %s', async (_, file, code) => {
    expect(await violations(file, `${code}\nexport {};\n`)).toEqual([]);
  });

  it.each([
    ['the domain importing pg', 'libs/conversation/src/probe.ts', "import { Pool } from 'pg';"],
    ['the domain importing drizzle', 'libs/knowledge/src/probe.ts', "import { sql } from 'drizzle-orm';"],
    ['the contracts importing NestJS', 'libs/contracts/src/probe.ts', "import { Injectable } from '@nestjs/common';"],
    ['the domain importing the NATS client', 'libs/conversation/src/probe.ts', "import { jetstream } from '@nats-io/jetstream';"],
    ['the domain importing the OpenAI SDK', 'libs/knowledge/src/probe.ts', "import OpenAI from 'openai';"],
    ['an app importing drizzle', 'apps/cli/src/probe.ts', "import { drizzle } from 'drizzle-orm/node-postgres';"],
    ['an app importing pg', 'apps/relay/src/probe.ts', "import { Client } from 'pg';"],
    ['the runtime importing drizzle', 'libs/runtime/src/probe.ts', "import { sql } from 'drizzle-orm';"],
  ])('rejects %s', async (_, file, code) => {
    expect(
      await violations(
        file,
        `${code}\nexport const probe = [${code
          .match(/\{ (\w+) \}|import (\w+)/)!
          .slice(1)
          .find(Boolean)}];\n`,
        'no-restricted-imports',
      ),
    ).toEqual([expect.stringMatching(/do no I\/O|SQL lives in libs\/event-store/)]);
  });

  it('allows an adapter its driver, and an app NestJS', async () => {
    expect(
      await violations(
        'libs/event-store/src/probe.ts',
        "import { Pool } from 'pg';\nexport const probe = Pool;\n",
        'no-restricted-imports',
      ),
    ).toEqual([]);
    expect(
      await violations(
        'apps/cli/src/probe.ts',
        "import { Logger } from '@nestjs/common';\nexport const probe = Logger;\n",
        'no-restricted-imports',
      ),
    ).toEqual([]);
  });

  it.each([
    ['any', '@typescript-eslint/no-explicit-any', 'export const probe = (value: any) => value;'],
    ['an unused variable', '@typescript-eslint/no-unused-vars', 'export function probe() {\n  const unused = 1;\n}'],
    ['a let never reassigned', 'prefer-const', 'export function probe() {\n  let once = 1;\n  return once;\n}'],
    ['a require', '@typescript-eslint/no-require-imports', "export const probe = require('node:path');"],
  ])("runs typescript-eslint's recommended rules: %s is an error", async (_, rule, code) => {
    expect(await violations('libs/conversation/src/probe.ts', `${code}\n`, rule)).toHaveLength(1);
  });

  it('lets a leading underscore name what is dropped on purpose', async () => {
    expect(
      await violations(
        'libs/conversation/src/probe.ts',
        'export function probe({ secret: _secret, ...rest }: { secret: string; kept: string }) {\n  return rest;\n}\n',
        '@typescript-eslint/no-unused-vars',
      ),
    ).toEqual([]);
  });

  describe('import cycles within a project', () => {
    // files of their own in a lib, for the rule to follow from one to the next
    const dir = join(root, 'libs/conversation/src', `cycle-probe-${process.pid}`);
    const write = (name: string, code: string) => writeFileSync(join(dir, name), code);
    beforeAll(() => mkdirSync(dir, { recursive: true }));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('rejects a file whose imports lead back to it, however far round', async () => {
      write('a.ts', "import { b } from './b';\nexport const a = () => b;\n");
      write('b.ts', "import { c } from './nested';\nexport const b = () => c;\n");
      mkdirSync(join(dir, 'nested'), { recursive: true });
      write('nested/index.ts', "export { c } from './c';\n");
      write('nested/c.ts', "import { a } from '../a';\nexport const c = () => a;\n");
      const messages = await violations(
        `libs/conversation/src/cycle-probe-${process.pid}/a.ts`,
        readFileSync(join(dir, 'a.ts'), 'utf8'),
        'parley/no-import-cycle',
      );
      expect(messages).toEqual([
        'Import cycle: a.ts → b.ts → nested/index.ts → nested/c.ts → a.ts. Move what both need into a file of its own.',
      ]);
    });

    it('allows a circle of type-only imports (gone once compiled) and imports that do not come back', async () => {
      write('d.ts', "import type { E } from './e';\nexport interface D { e?: E }\n");
      write('e.ts', "import { type D } from './d';\nexport interface E { d?: D }\n");
      write('f.ts', "import { a } from './a';\nexport const f = a;\n");
      const file = (name: string) => `libs/conversation/src/cycle-probe-${process.pid}/${name}`;
      expect(await violations(file('d.ts'), readFileSync(join(dir, 'd.ts'), 'utf8'), 'parley/no-import-cycle')).toEqual([]);
      write('a.ts', 'export const a = 1;\n');
      expect(await violations(file('f.ts'), readFileSync(join(dir, 'f.ts'), 'utf8'), 'parley/no-import-cycle')).toEqual([]);
    });
  });

  it('checks the formatting (npm run format fixes it)', () => {
    // prettier's own CLI, with the repository's config, formatting what it is given as a file there
    const format = (code: string) =>
      execFileSync(process.execPath, [require.resolve('prettier/bin/prettier.cjs'), '--stdin-filepath', 'libs/conversation/src/probe.ts'], {
        cwd: root,
        input: code,
        encoding: 'utf8',
      });
    const messy = 'export const probe = {a:1,b:"two"}\n';
    expect(format(messy)).not.toBe(messy);
    const tidy = "export const probe = { a: 1, b: 'two' };\n";
    expect(format(tidy)).toBe(tidy);
  });
});
