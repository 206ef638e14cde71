export declare function boundaryConfigs(nx: unknown, parser: unknown): import('eslint').Linter.Config[];
