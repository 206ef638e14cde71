export * from './test-database';
export * from './test-nats';
export * from './wait-for';
export * from './scripted-llm.server';
export * from './cluster';
export * from './processes';
export * from './test-cluster';
export * from './event-fixtures';
