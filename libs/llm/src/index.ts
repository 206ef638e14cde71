export * from './llm.port';
export * from './openai-compatible.llm';
