import type { ClientMessage } from '@parley/contracts';

type Tokenizer = typeof import('gpt-tokenizer/encoding/o200k_base');
let tokenizer: Tokenizer | undefined;
/**
 * The o200k tokenizer (GPT-4o and later). Its tables take about 70 MB once loaded, so they are
 * loaded on first use: only processes that budget contexts (the responder, the CLI) pay for them.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, not at import
const o200k = () => (tokenizer ??= require('gpt-tokenizer/encoding/o200k_base') as Tokenizer);

/**
 * Counts kept, by text: a conversation's messages are counted again on each of its turns. At most
 * `TOKEN_COUNTS_KEPT` texts and `KEPT_CHARS` characters of them (about 8 MB), the oldest dropped
 * first, whatever the process is fed.
 */
export const TOKEN_COUNTS_KEPT = 10_000;
const KEPT_CHARS = 4_000_000;
const counted = new Map<string, number>();
let keptChars = 0;

/**
 * Longest run of text handed to the tokenizer at once. Byte-pair merging is quadratic in the
 * length of a run without spaces (a 700 KB "word" held a responder for minutes; 32,000 `中` took
 * 4.5 s), so text is counted in pieces: cut at a space where there is one (the tokenizer splits
 * there anyway, so counts stay exact for prose), and any longer run cut every 64 characters (32,000
 * `中`: 8 ms). A cut inside a word can add a token, a negligible error on text like that.
 */
const PIECE_CHARS = 64;

function pieces(text: string): string[] {
  if (text.length <= PIECE_CHARS) return [text];
  const out: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + PIECE_CHARS);
    if (end < text.length) {
      const space = text.lastIndexOf(' ', end);
      if (space > start) end = space;
    }
    // never split a surrogate pair
    if (end < text.length && /[\ud800-\udbff]/.test(text[end - 1])) end--;
    out.push(text.slice(start, end));
    start = end;
  }
  return out;
}

/**
 * o200k token count, in time linear in the text's length whatever it holds. Each turn of a
 * conversation counts its whole window again (a 120-message window: 0.7 ms), so counts are kept
 * by text, the oldest dropped first past `TOKEN_COUNTS_KEPT`.
 */
export function countTokens(text: string): number {
  const known = counted.get(text);
  if (known !== undefined) return known;
  const encoder = o200k();
  let count = 0;
  for (const piece of pieces(text)) count += encoder.countTokens(piece);
  if (text.length > KEPT_CHARS) return count;
  while (counted.size >= TOKEN_COUNTS_KEPT || keptChars + text.length > KEPT_CHARS) {
    const oldest = counted.keys().next().value!;
    counted.delete(oldest);
    keptChars -= oldest.length;
  }
  counted.set(text, count);
  keptChars += text.length;
  return count;
}

/** How many counts are kept (for tests). */
export const tokenCountsKept = () => counted.size;

/** The text cut to at most `max` tokens (whole tokens, from the start); the text itself if it fits. */
export function cutToTokens(text: string, max: number): string {
  if (countTokens(text) <= max) return text;
  const encoder = o200k();
  const kept: number[] = [];
  for (const piece of pieces(text)) {
    for (const token of encoder.encode(piece)) {
      if (kept.length >= max) return encoder.decode(kept);
      kept.push(token);
    }
  }
  return encoder.decode(kept);
}

/** What the chat format adds per message (role and separators), as OpenAI documents it. */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/** Tokens of a chat input, counted with the o200k tokenizer (GPT-4o and later). */
export function contextTokens(messages: readonly ClientMessage[]): number {
  let total = 3; // every reply is primed with <|start|>assistant<|message|>
  for (const message of messages) total += messageTokens(message);
  return total;
}

/** Tokens one message of a chat input takes. */
export function messageTokens(message: ClientMessage): number {
  let total = MESSAGE_OVERHEAD_TOKENS + countTokens(message.content ?? '');
  if (message.role === 'assistant') for (const call of message.toolCalls ?? []) total += countTokens(`${call.name}${call.arguments}`);
  return total;
}
