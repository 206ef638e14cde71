import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import boundaries from './tools/module-boundaries.cjs';

export default [
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.nx/**',
      'bench/**',
      'tools/**',
      '**/migrations/**',
      'apps/ingress/src/inspect/page/**',
      '*.js',
    ],
  },
  ...boundaries.lintConfigs(nx, tseslint),
];
