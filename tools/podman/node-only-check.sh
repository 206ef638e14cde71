#!/usr/bin/env bash
# The README's first command on a machine with only Node.js: a container of the Node 20 stand-in
# image (no PostgreSQL, no NATS) gets a clean copy of the repository and runs `npm ci && npm start`.
# It must come up in the embedded mode on its own — a PostgreSQL from npm, the in-process bus, the
# Demo Bank — and answer turns of a stateful conversation and a knowledge-base question.
#   bash tools/podman/node-only-check.sh     # as root, after compose-check.sh built the images
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS
say() { echo "node-only-check [$((SECONDS - started)) s]: $*"; }
fail() { echo "node-only-check: FAILED: $*" >&2; exit 1; }

image=docker.io/library/node:20-bookworm-slim
podman image exists "$image" || fail "$image is missing (tools/podman/build-base-images.sh builds it)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# what a developer has after cloning: the committed files, nothing built or installed
git clone -q . "$work/repo"
cat >"$work/run.sh" <<'SCRIPT'
set -e
cp -r /src /app && cd /app
npm ci --no-audit --no-fund >/tmp/npm-ci.log 2>&1 || { tail -20 /tmp/npm-ci.log; exit 1; }
(npm start >/tmp/start.log 2>&1 &)
for _ in $(seq 1 300); do grep -q "ready on" /tmp/start.log && break; sleep 1; done
grep -v '"level"' /tmp/start.log
grep -q "ready on" /tmp/start.log || exit 1
node -e "
const h = { authorization: 'Bearer parley-local-dev-key', 'content-type': 'application/json' };
const post = async (path, body) => (await fetch('http://127.0.0.1:3000' + path, { method: 'POST', headers: h, body: JSON.stringify(body) })).json();
(async () => {
  const { sessionId } = await post('/v1/sessions', { userId: 'ana' });
  for (const text of ['Hello, I am Ana', 'I need help with something']) {
    const turn = await post('/v1/sessions/' + sessionId + '/turns', { text });
    console.log('TURN ' + turn.route.mode + ' ' + turn.route.reason + ' | ' + turn.reply.text);
  }
  const faq = await post('/v1/turns', { text: 'My new card has not arrived yet' });
  console.log('TURN ' + faq.route.mode + ' ' + (faq.route.intent || '') + ' | ' + faq.reply.text.slice(0, 60));
})().catch((error) => { console.error(error); process.exit(1); });
"
SCRIPT
say "npm ci && npm start in $image (no PostgreSQL, no NATS)"
out=$(podman run --rm -v "$work/repo:/src:ro" -v "$work/run.sh:/run.sh:ro" "$image" bash /run.sh 2>&1) || { echo "$out" | tail -30; fail "npm start did not serve"; }
echo "$out" | grep -E "EMBEDDED MODE|PostgreSQL: embedded|bus: in-process|ready on|^TURN" | sed 's/^/  /'
echo "$out" | grep -q "PostgreSQL: embedded, created" || fail "no embedded PostgreSQL announced"
echo "$out" | grep -q "bus: in-process" || fail "no in-process bus announced"
echo "$out" | grep -Eq "TURN stateful [a-z-]+ \| You said: I need help with something \(I can see 3 messages" || fail "the second turn did not see the first"
echo "$out" | grep -q "TURN stateless card_arrival" || fail "the Demo Bank did not answer"
say "passed"
