// Module boundaries: apps → runtime → adapters → domain → contracts, never app → app.
// Test files may additionally use the testing library; production code may not.
// Shared by eslint.config.mjs and the test that proves the rule is enforced.
const constraints = (extra) => [
  { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:contracts', ...extra] },
  { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:contracts', ...extra] },
  { sourceTag: 'type:adapter', onlyDependOnLibsWithTags: ['type:domain', 'type:contracts', ...extra] },
  { sourceTag: 'type:runtime', onlyDependOnLibsWithTags: ['type:adapter', 'type:domain', 'type:contracts', ...extra] },
  { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:runtime', 'type:adapter', 'type:domain', 'type:contracts', ...extra] },
  { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:contracts'] },
  { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:testing', 'type:adapter', 'type:domain', 'type:contracts'] },
];

const boundaries = (extra) => ({
  '@nx/enforce-module-boundaries': ['error', { enforceBuildableLibDependency: false, allow: [], depConstraints: constraints(extra) }],
});

/** Flat-config entries, given the Nx plugin and the TypeScript parser. */
const boundaryConfigs = (nx, parser) => [
  { files: ['**/*.ts'], languageOptions: { parser }, plugins: { '@nx': nx }, rules: boundaries([]) },
  { files: ['**/*.spec.ts', '**/*.contract.ts', 'libs/testing/**/*.ts'], rules: boundaries(['type:testing']) },
];

/** What the domain and the contracts may never import: they do no I/O and know no framework. */
const DOMAIN_FILES = ['libs/contracts/**/*.ts', 'libs/conversation/**/*.ts', 'libs/knowledge/**/*.ts'];
const IO_PACKAGES = ['pg', 'pg/*', 'drizzle-orm', 'drizzle-orm/*', '@nats-io/*', 'openai', 'openai/*', '@nestjs/*'];
/** What apps and the other libraries may never import: SQL lives in libs/event-store. */
const SQL_PACKAGES = ['pg', 'pg/*', 'drizzle-orm', 'drizzle-orm/*'];

const restricted = (group, message) => ({ 'no-restricted-imports': ['error', { patterns: [{ group, message }] }] });

/**
 * The whole lint configuration of the TypeScript sources, given the Nx plugin and typescript-eslint:
 * typescript-eslint's recommended rules, the module boundaries, and the imports the layers may not
 * make. `eslint.config.mjs` is this; `test/module-boundaries.int.spec.ts` proves each rule fires.
 */
const noImportCycle = require('./no-import-cycle.cjs');

const lintConfigs = (nx, tseslint) => [
  ...tseslint.configs.recommended,
  {
    rules: {
      // a leading underscore names what is dropped on purpose (`{ secret: _secret, ...rest }`)
      // a variable a callback reads before it is assigned stays `let`
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
    },
  },
  {
    files: ['apps/**/*.ts', 'libs/**/*.ts'],
    plugins: { parley: { rules: { 'no-import-cycle': noImportCycle } } },
    rules: { 'parley/no-import-cycle': 'error' },
  },
  // tests read whatever JSON a response holds
  { files: ['**/*.spec.ts', 'test/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  ...boundaryConfigs(nx, tseslint.parser),
  {
    files: DOMAIN_FILES,
    rules: restricted(
      IO_PACKAGES,
      'The domain and the contracts do no I/O and know no framework: this belongs in an adapter (libs/event-store, libs/messaging, libs/llm) or an app.',
    ),
  },
  {
    files: ['apps/**/*.ts', 'libs/runtime/**/*.ts', 'libs/messaging/**/*.ts', 'libs/llm/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: restricted(SQL_PACKAGES, 'SQL lives in libs/event-store: add a repository function there and call it.'),
  },
];

module.exports = { boundaryConfigs, lintConfigs };
