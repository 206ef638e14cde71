/** Milliseconds from sending a request until the first piece of its streamed body that `isFirst` recognises. */
export async function timeToFirst(url: string, init: RequestInit, isFirst: (text: string) => boolean): Promise<number> {
  const started = performance.now();
  const res = await fetch(url, init);
  if (!res.ok || !res.body) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let first: number | null = null;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (first === null && isFirst(text)) first = performance.now() - started;
  }
  if (first === null) throw new Error(`${url} streamed no first piece: ${text.slice(0, 300)}`);
  return first;
}

/** An OpenAI `chat.completion.chunk` with some content. */
export const hasContentChunk = (text: string) => /"content":"[^"]/.test(text);
