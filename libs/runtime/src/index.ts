export * from './resources';
export * from './infrastructure.module';
export * from './process';
export * from './append-once';
export * from './tenant-matchers';
export * from './give-up';
