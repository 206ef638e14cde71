/**
 * Reads a streamed body to its end: milliseconds from `started` to the first piece that `isFirst`
 * recognises in what came so far, and to the end, with the whole text.
 */
async function readStreamed(
  body: ReadableStream<Uint8Array>,
  started: number,
  isFirst: (text: string) => boolean,
): Promise<{ first: number | null; done: number; text: string }> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let first: number | null = null;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (first === null && isFirst(text)) first = performance.now() - started;
  }
  return { first, done: performance.now() - started, text };
}

/** Milliseconds from sending a request until the first piece of its streamed body that `isFirst` recognises. */
export async function timeToFirst(url: string, init: RequestInit, isFirst: (text: string) => boolean): Promise<number> {
  const started = performance.now();
  const res = await fetch(url, init);
  if (!res.ok || !res.body) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
  const { first, text } = await readStreamed(res.body, started, isFirst);
  if (first === null) throw new Error(`${url} streamed no first piece: ${text.slice(0, 300)}`);
  return first;
}

/** A turn's Server-Sent Events, read to the end: milliseconds (from `started`) to the first `delta` and to `done`. */
export async function readEventStream(body: ReadableStream<Uint8Array>, started: number): Promise<{ first: number; done: number }> {
  const { first, done, text } = await readStreamed(body, started, (seen) => seen.includes('event: delta'));
  if (text.includes('event: error')) throw new Error(`turn failed: ${text.slice(text.indexOf('event: error'), 400)}`);
  if (first === null || !text.includes('event: done')) throw new Error(`turn streamed no reply: ${text.slice(0, 300)}`);
  return { first, done };
}

/** An OpenAI `chat.completion.chunk` with some content. */
export const hasContentChunk = (text: string) => /"content":"[^"]/.test(text);
