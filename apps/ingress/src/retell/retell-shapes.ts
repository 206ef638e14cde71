import { findUnstorableText } from '@parley/contracts';
import { z } from 'zod';

/** One line of the live transcript Retell keeps: what the caller said, and what the agent said aloud. */
const Utterance = z.looseObject({ role: z.string().max(64), content: z.string().max(100_000) });
export type Utterance = z.infer<typeof Utterance>;

const Transcript = z.array(Utterance).max(10_000);

/**
 * What Retell sends over its custom-LLM WebSocket (`interaction_type`), as its LLM WebSocket
 * reference documents them. Other fields are allowed and ignored; an interaction type this code
 * does not know is left alone (Retell adds some over time).
 */
export const RetellMessage = z.discriminatedUnion('interaction_type', [
  z.looseObject({ interaction_type: z.literal('ping_pong'), timestamp: z.number() }),
  z.looseObject({
    interaction_type: z.literal('call_details'),
    call: z.looseObject({ from_number: z.string().max(64).nullable().optional(), to_number: z.string().max(64).nullable().optional() }),
  }),
  z.looseObject({
    interaction_type: z.literal('update_only'),
    transcript: Transcript,
    turntaking: z.enum(['agent_turn', 'user_turn']).optional(),
  }),
  z.looseObject({ interaction_type: z.literal('response_required'), response_id: z.number().int().nonnegative(), transcript: Transcript }),
  z.looseObject({
    interaction_type: z.literal('reminder_required'),
    response_id: z.number().int().nonnegative(),
    transcript: Transcript.optional(),
  }),
]);
export type RetellMessage = z.infer<typeof RetellMessage>;

const KNOWN = new Set(['ping_pong', 'call_details', 'update_only', 'response_required', 'reminder_required']);

/** A frame as Retell sent it: a message, one to leave alone (an interaction this code does not know), or what is wrong with it. */
export function parseRetellFrame(text: string): { message: RetellMessage } | { ignore: true } | { invalid: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { invalid: 'a frame is not JSON' };
  }
  const type = (raw as { interaction_type?: unknown } | null)?.interaction_type;
  if (typeof type === 'string' && !KNOWN.has(type)) return { ignore: true };
  const where = findUnstorableText(raw);
  if (where !== null) return { invalid: `the frame${where ? ` (at ${where})` : ''} holds text that cannot be stored` };
  const parsed = RetellMessage.safeParse(raw);
  if (!parsed.success)
    return {
      invalid: parsed.error.issues
        .map((i) => `${i.path.join('.') || 'frame'}: ${i.message}`)
        .join('; ')
        .slice(0, 120),
    };
  return { message: parsed.data };
}

/** What Parley sends back: the config, pings, and the pieces of each response. */
export type RetellReply =
  | { response_type: 'config'; config: { auto_reconnect: boolean; call_details: boolean } }
  | { response_type: 'ping_pong'; timestamp: number }
  | {
      response_type: 'response';
      response_id: number;
      content: string;
      content_complete: boolean;
      end_call?: boolean;
      transfer_number?: string;
    };

/** The line a reminder records as the caller's (the caller said nothing; the model is told so). */
export const REMINDER_TEXT = '(The caller has not said anything for a while.)';
