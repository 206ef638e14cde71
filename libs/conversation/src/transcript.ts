import type { ToolCallData } from '@parley/contracts';

/** One line of the transcript. */
export interface TranscriptMessage {
  role: 'user' | 'assistant' | 'tool';
  text: string;
  /** Calls to the client's tools the assistant made (its text may then be empty). */
  toolCalls?: ToolCallData[];
  /** The call a tool message answers. */
  toolCallId?: string;
  turnId: string;
  /** Stream version of the event that added this message. */
  version: number;
  at: string;
}
