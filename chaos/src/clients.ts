/** What happened to one turn a client sent, however many times it had to send it. */
export interface TurnRecord {
  session: number;
  sessionId: string;
  index: number;
  text: string;
  idempotencyKey: string;
  /** 200 at the end, or the last status (0: no answer at all) when the client gave up. */
  status: number;
  attempts: number;
  /** The turn id and reply the client got with its 200. */
  turnId?: string;
  reply?: string;
  sentAt: number;
  doneAt: number;
}

export interface LoadOptions {
  baseUrl: () => string;
  apiKey: string;
  /** How long a client keeps retrying one turn before it gives up on it. */
  giveUpAfterMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A client as a careful integrator writes one: every turn carries an Idempotency-Key, and a turn
 * that fails — no connection, a 5xx, a 503 or 429 with Retry-After — is sent again, the same key,
 * after the delay asked for (or a short backoff), until it is answered or `giveUpAfterMs` passes.
 * A retry of a turn that was recorded returns the original's answer, never a second turn.
 */
export async function sendTurn(options: LoadOptions, turn: Omit<TurnRecord, 'status' | 'attempts' | 'doneAt'>): Promise<TurnRecord> {
  let attempts = 0;
  let status = 0;
  for (const deadline = turn.sentAt + options.giveUpAfterMs; Date.now() < deadline;) {
    attempts++;
    let wait = Math.min(2_000, 100 * 2 ** Math.min(attempts, 5));
    try {
      const res = await fetch(`${options.baseUrl()}/v1/sessions/${turn.sessionId}/turns`, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json', 'idempotency-key': turn.idempotencyKey },
        body: JSON.stringify({ text: turn.text, mode: 'stateful' }),
        signal: AbortSignal.timeout(70_000),
      });
      status = res.status;
      const body = (await res.json().catch(() => ({}))) as { turnId?: string; reply?: { text: string } };
      if (res.status === 200) return { ...turn, status, attempts, turnId: body.turnId, reply: body.reply?.text, doneAt: Date.now() };
      const retryAfter = Number(res.headers.get('retry-after'));
      if (retryAfter > 0) wait = retryAfter * 1_000;
      // a request error that no retry can fix: give up at once
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) break;
    } catch {
      status = 0; // the connection failed or was cut (an ingress killed): send it again
    }
    await sleep(wait);
  }
  return { ...turn, status, attempts, doneAt: Date.now() };
}
