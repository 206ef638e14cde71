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
  '@nx/enforce-module-boundaries': [
    'error',
    { enforceBuildableLibDependency: false, allow: [], depConstraints: constraints(extra) },
  ],
});

/** Flat-config entries, given the Nx plugin and the TypeScript parser. */
const boundaryConfigs = (nx, parser) => [
  { files: ['**/*.ts'], languageOptions: { parser }, plugins: { '@nx': nx }, rules: boundaries([]) },
  { files: ['**/*.spec.ts', '**/*.contract.ts', 'libs/testing/**/*.ts'], rules: boundaries(['type:testing']) },
];

module.exports = { boundaryConfigs };
