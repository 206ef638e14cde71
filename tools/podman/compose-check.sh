#!/usr/bin/env bash
# docker-compose.yml run for real, with podman-compose, on a machine that reaches no image registry:
# builds the base-image stand-ins (build-base-images.sh) and Parley's image, brings the stack up on
# free host ports, then checks what a first `up` must give: ingress ready; a session of three
# turns whose contexts grow, answered by the demo LLM (no OPENAI_API_KEY given); a Demo Bank
# question answered from the knowledge base the migration imported; `parley replay` inside a
# container; a service restarted while Postgres is down waits for it and serves once it is back.
# With --cluster, on top of docker-compose.cluster.yml (three NATS servers, streams at R3, two
# replicas of every service): conversations go on while the stream's leader NATS node, then one
# replica of each service, are killed and restarted in turn; every turn is answered (clients retry
# with their Idempotency-Key), every session's log holds each message once and in order, and both
# responders answered turns.
# With --deps, docker-compose.deps.yml alone (Postgres and NATS for `npm start`) on free ports, and
# `npm start`'s own script against them: ready, and a turn answered.
# Everything runs in a compose project of its own, removed at the end (containers, volumes, network).
#
#   bash tools/podman/compose-check.sh [--cluster | --deps]    # as root; installs podman, podman-compose, debootstrap, runc if missing
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS
say() { echo "compose-check [$((SECONDS - started)) s]: $*"; }
fail() { echo "compose-check: FAILED: $*" >&2; exit 1; }

if ! command -v podman-compose >/dev/null || ! command -v debootstrap >/dev/null; then
  say "installing podman, podman-compose, debootstrap, runc"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman podman-compose debootstrap runc >/dev/null
fi
if [ ! -f /etc/containers/containers.conf ]; then
  # runc (crun fails here on hybrid cgroups), no systemd, and ulimits a container may set
  mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = ["nofile=1024:4096", "nproc=1024:2048"]\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' >/etc/containers/containers.conf
fi

say "base images"
bash tools/podman/build-base-images.sh >/tmp/parley-compose-check-images.log 2>&1 || { tail -20 /tmp/parley-compose-check-images.log; fail "building the base images"; }
say "Parley's image"
podman build --network host -t localhost/parley:local . >/tmp/parley-compose-check-build.log 2>&1 || { tail -20 /tmp/parley-compose-check-build.log; fail "building the image"; }

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
project="parleycheck$$"
files=(-f docker-compose.yml)
[ "${1:-}" = --cluster ] && files+=(-f docker-compose.cluster.yml)
[ "${1:-}" = --deps ] && files=(-f docker-compose.deps.yml)
export PARLEY_HTTP_PORT="$(free_port)" PARLEY_HTTP_PORT_2="$(free_port)" PARLEY_NATS_MONITOR_PORT="$(free_port)"
export PARLEY_DEV_API_KEY="pk_check_$(node -e "console.log(require('crypto').randomBytes(12).toString('hex'))")"
unset OPENAI_API_KEY OPENAI_BASE_URL PARLEY_MODEL
base="http://127.0.0.1:$PARLEY_HTTP_PORT"
cleanup() {
  podman-compose -p "$project" "${files[@]}" down -v >/dev/null 2>&1 || true
  podman network rm -f "${project}_default" >/dev/null 2>&1 || true
}
trap cleanup EXIT
ready_at() { # url, seconds
  for _ in $(seq 1 "$2"); do
    if curl -fs "$1/readyz" 2>/dev/null | grep -q '"status":"ready"'; then return 0; fi
    sleep 1
  done
  return 1
}

if [ "${1:-}" = --deps ]; then
  export PARLEY_PG_PORT="$(free_port)" PARLEY_NATS_PORT="$(free_port)"
  say "up: Postgres on 127.0.0.1:$PARLEY_PG_PORT, NATS on 127.0.0.1:$PARLEY_NATS_PORT"
  podman-compose -p "$project" "${files[@]}" up -d >/tmp/parley-compose-check-up.log 2>&1 || { tail -20 /tmp/parley-compose-check-up.log; fail "podman-compose up"; }
  port="$(free_port)"
  # npm start's own script, with its defaults but for the ports
  DATABASE_URL="postgres://postgres@127.0.0.1:$PARLEY_PG_PORT/parley" NATS_URL="nats://127.0.0.1:$PARLEY_NATS_PORT" PORT="$port" \
    PARLEY_CONNECT_WAIT_SECONDS=60 node tools/start.mjs >/tmp/parley-compose-check-start.log 2>&1 &
  start_pid=$!
  trap 'kill -INT $start_pid 2>/dev/null; wait $start_pid 2>/dev/null; cleanup' EXIT
  ready_at "http://127.0.0.1:$port" 150 || { tail -30 /tmp/parley-compose-check-start.log; fail "npm start against the deps did not get ready"; }
  say "npm start is ready against them"
  reply=$(curl -fsS -XPOST "http://127.0.0.1:$port/v1/turns" -H "authorization: Bearer $PARLEY_DEV_API_KEY" -H 'content-type: application/json' -d '{"text":"How do I activate my card?"}')
  echo "$reply" | grep -q '"reason":"no-session-faq"' || fail "a turn through npm start: $reply"
  say "a turn answered; passed"
  exit 0
fi

say "up (project $project, ingress on $base)"
podman-compose -p "$project" "${files[@]}" up -d >/tmp/parley-compose-check-up.log 2>&1 || { tail -20 /tmp/parley-compose-check-up.log; fail "podman-compose up"; }
ready_at "$base" 120 || { podman logs "${project}_ingress_1" 2>&1 | tail -20; fail "ingress not ready in 120 s"; }
# podman-compose starts the services beside the migration (it does not wait on depends_on): the router
# and ingress find the knowledge base it imports within PARLEY_KB_REFRESH_MS, and train or load it
has_kb() { podman logs "${project}_$1_1" 2>&1 | grep -q 'tenant default: knowledge base v1'; }
for _ in $(seq 1 180); do has_kb router && has_kb ingress && break; sleep 1; done
if ! { has_kb router && has_kb ingress; }; then
  # which containers ran, and how often they were restarted (a service that exited and came back late)
  podman ps -a --filter "name=${project}_" --format '{{.Names}} {{.Status}} restarts={{.Restarts}}' 2>&1 || true
  for service in migrate router ingress; do echo "--- $service"; podman logs --timestamps "${project}_${service}_1" 2>&1 | tail -30 | cut -c1-300; done
  fail "the router and ingress did not take up the imported knowledge base in 180 s"
fi
say "ready, the knowledge base taken up"

if [ "${1:-}" = --cluster ]; then
  base2="http://127.0.0.1:$PARLEY_HTTP_PORT_2"
  ready_at "$base2" 120 || fail "the second ingress not ready in 120 s"
  podman exec "${project}_nats_1" wget -qO- 'http://127.0.0.1:8222/jsz?streams=true' >/tmp/parley-compose-check-jsz.json
  leader=$(node -e "const j=require('/tmp/parley-compose-check-jsz.json');const st=j.account_details[0].stream_detail.find(x=>x.name==='PARLEY_EVENTS');if(st.config&&st.config.num_replicas!==3||!st.cluster.leader)process.exit(1);console.log(st.cluster.leader)") || fail "PARLEY_EVENTS is not kept at three copies"
  say "two ingresses ready; PARLEY_EVENTS at three copies, led by $leader"
  node tools/podman/cluster-turns.mjs "$base,$base2" "$PARLEY_DEV_API_KEY" 8 60 500 >/tmp/parley-compose-check-turns.json &
  driver=$!
  sleep 3
  node_container="${project}_${leader/nats-1/nats}_1"
  say "killing the stream's leader, $leader"
  podman kill "$node_container" >/dev/null 2>&1
  sleep 8
  podman start "$node_container" >/dev/null 2>&1
  for service in router responder session-projector relay ingress; do
    say "killing one replica of $service"
    podman kill "${project}_${service}_1" >/dev/null 2>&1
    sleep 4
    podman start "${project}_${service}_1" >/dev/null 2>&1
  done
  wait "$driver" || fail "the conversations did not finish"
  node -e "
    const r = require('/tmp/parley-compose-check-turns.json');
    if (r.unanswered || r.answered !== 480) { console.error(JSON.stringify(r)); process.exit(1); }
    console.log(r.answered + ' turns answered, ' + r.retries + ' retried by their clients');
  " || fail "turns went unanswered"
  node -e "
    const { sessions } = require('/tmp/parley-compose-check-turns.json');
    (async () => {
      for (const { index: s, sessionId: id } of sessions) {
        const res = await fetch('$base2/v1/sessions/' + id + '/messages?limit=5000', { headers: { authorization: 'Bearer $PARLEY_DEV_API_KEY' } });
        const { messages } = await res.json();
        const users = messages.filter((m) => m.role === 'user');
        const inOrder = users.length === 60 && users.every((m, i) => m.text === 'session ' + s + ' turn ' + (i + 1));
        const paired = messages.length === 120 && messages.every((m, i) => m.role === (i % 2 ? 'assistant' : 'user'));
        if (!inOrder || !paired) { console.error('session ' + id + ': ' + users.length + ' user messages, ' + messages.length + ' in all'); process.exit(1); }
      }
    })();
  " || fail "a session's log is not each message once, in order"
  say "every session's log holds its 60 turns once each, in order, each answered"
  for responder in responder responder-2; do
    replies=$(podman exec "${project}_${responder}_1" node -e "fetch('http://127.0.0.1:9100/metrics').then((r) => r.text()).then((t) => console.log((/parley_llm_call_duration_seconds_count\{[^}]*purpose=\"reply\"[^}]*outcome=\"ok\"\} (\d+)/.exec(t) || [0, 0])[1]))")
    [ "$replies" -gt 0 ] || fail "$responder answered no turn"
    say "$responder answered $replies turns since it (re)started"
  done
  say "passed"
  exit 0
fi

api() { # method, path, [body]
  curl -fsS -X "$1" "$base$2" -H "authorization: Bearer $PARLEY_DEV_API_KEY" -H 'content-type: application/json' ${3:+-d "$3"}
}
field() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const v=eval('JSON.parse(s)'+process.argv[1]);console.log(typeof v==='string'?v:JSON.stringify(v))})" "$1"; }

session=$(api POST /v1/sessions '{"userId":"compose-check"}' | field .sessionId)
seen=()
took=()
for text in "I need a table for two" "At eight, please" "By the window if you can"; do
  at=$(date +%s%N)
  reply=$(api POST "/v1/sessions/$session/turns" "{\"text\":\"$text\",\"mode\":\"stateful\"}" | field .reply.text)
  took+=("$((($(date +%s%N) - at) / 1000000)) ms")
  seen+=("$(echo "$reply" | sed -n 's/.*I can see \([0-9]*\) messages.*/\1/p')")
done
[ "${seen[*]}" = "1 3 5" ] || fail "contexts should grow 1 3 5 messages, saw: ${seen[*]}"
say "three stateful turns answered by the demo LLM, contexts of ${seen[*]} messages (${took[*]})"

route=$(api POST /v1/turns '{"text":"How do I activate my card?"}' | field .route.reason)
[ "$route" = "no-session-faq" ] || fail "a Demo Bank question should be answered from the knowledge base, route: $route"
say "a Demo Bank question answered from the imported knowledge base"

replayed=$(podman exec "${project}_ingress_1" node dist/apps/cli/src/main.js replay "$session")
echo "$replayed" | grep -q "turns (3)" || { echo "$replayed" | tail -20; fail "parley replay inside the container"; }
say "parley replay inside a container shows the three turns"

podman stop -t 2 "${project}_postgres_1" >/dev/null 2>&1
podman restart -t 2 "${project}_router_1" >/dev/null 2>&1
waited=""
for _ in $(seq 1 30); do
  if podman logs "${project}_router_1" 2>&1 | grep -q "trying again for up to 60 s"; then waited=1; break; fi
  sleep 1
done
[ -n "$waited" ] || fail "the router restarted without Postgres should say it waits for it"
podman start "${project}_postgres_1" >/dev/null 2>&1
ready=""
for _ in $(seq 1 60); do
  if curl -fs "$base/readyz" 2>/dev/null | grep -q '"status":"ready"'; then ready=1; break; fi
  sleep 1
done
[ -n "$ready" ] || fail "not ready again after Postgres came back"
reply=$(api POST "/v1/sessions/$session/turns" '{"text":"And a birthday cake","mode":"stateful"}' | field .reply.text)
echo "$reply" | grep -q "I can see 7 messages" || fail "the turn after the outage: $reply"
say "a router restarted while Postgres was down waited for it, and the session went on"

healthy() { # container: as compose judges it, up to 3 tries (its health checks' retries) 2 s apart
  for _ in 1 2 3; do podman healthcheck run "$1" >/dev/null 2>&1 && return 0; sleep 2; done
  return 1
}
for service in postgres nats router relay session-projector responder ingress; do
  healthy "${project}_${service}_1" || fail "$service's health check failed 3 times"
done
say "every health check passes"
say "passed"
