// The LLM port and its OpenAI-compatible adapter, by name.
export { type Llm, LlmError, type LlmMessage, type ToolCall, type ToolSpec } from './llm.port';
export { llmOptionsFrom, type LlmSettings, OpenAiCompatibleLlm, type OpenAiCompatibleOptions } from './openai-compatible.llm';
export { PerTenantLlm, type TenantProvider } from './per-tenant.llm';
