export declare function boundaryConfigs(nx: unknown, parser: unknown): import('eslint').Linter.Config[];
export declare function lintConfigs(nx: unknown, tseslint: unknown): import('eslint').Linter.Config[];
