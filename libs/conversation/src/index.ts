export * from './session.state';
export * from './turn-routing.policy';
export * from './llm-context';
export * from './errors';
export * from './ids';
export * from './user-memory.state';
export * from './context-budget';
