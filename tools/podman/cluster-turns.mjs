// Conversations against a compose cluster while its parts are killed (compose-check.sh --cluster):
// `sessions` sessions, each sending `turns` stateful turns one after another, to the ingresses
// named in turn; a turn that fails (connection refused, 5xx, timeout) is sent again with the same
// Idempotency-Key — to the other ingress — until `giveUpMs`. A session pauses `pauseMs` between
// turns, so the load spans the kills. Prints a JSON summary.
//   node cluster-turns.mjs <url,url> <key> <sessions> <turns> [pauseMs] [giveUpMs]
const [urls, key, sessions, turns, pause = '0', giveUp = '90000'] = process.argv.slice(2);
const ingresses = urls.split(',');
const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
const giveUpMs = Number(giveUp);
let retries = 0;
let next = 0;

async function call(path, body, idempotencyKey) {
  const started = Date.now();
  for (;;) {
    const base = ingresses[next++ % ingresses.length];
    try {
      const res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { ...headers, ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      if (res.ok) return await res.json();
      if (res.status < 500 && res.status !== 429) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    } catch (error) {
      if (error instanceof Error && /: 4\d\d /.test(error.message)) throw error;
    }
    if (Date.now() - started > giveUpMs) return null;
    retries++;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

const summary = { sessions: [], sent: 0, answered: 0, unanswered: 0 };
await Promise.all(
  Array.from({ length: Number(sessions) }, async (_, s) => {
    const session = await call('/v1/sessions', { userId: `cluster-${s}` });
    if (!session) return void summary.unanswered++;
    summary.sessions.push({ index: s, sessionId: session.sessionId });
    for (let t = 1; t <= Number(turns); t++) {
      summary.sent++;
      const answer = await call(
        `/v1/sessions/${session.sessionId}/turns`,
        { text: `session ${s} turn ${t}`, mode: 'stateful' },
        `cluster-${s}-${t}`,
      );
      if (answer) summary.answered++;
      else summary.unanswered++;
      await new Promise((resolve) => setTimeout(resolve, Number(pause)));
    }
  }),
);
console.log(JSON.stringify({ ...summary, retries }));
