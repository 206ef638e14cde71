#!/usr/bin/env bash
# What `npm test` needs of the machine: PostgreSQL letting `postgres` in on 127.0.0.1:5432 without a
# password, and nats-server with JetStream on 127.0.0.1:4222. Installs Debian's packages when they
# are missing (a fresh Debian machine), then starts what is not running. Run by .ci/run as root.
set -euo pipefail

apt_install() {
  echo "ci: installing $*"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  apt_install postgresql
  # the tests log in as postgres on 127.0.0.1 without a password: trust loopback TCP (this cluster is CI's own)
  hba="/etc/postgresql/$(ls /etc/postgresql | head -n 1)/main/pg_hba.conf"
  sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  # the package may have started the cluster already: it reads the change on a reload
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main reload 2>/dev/null || true
fi
NATS_SERVER="$(command -v nats-server || echo /usr/sbin/nats-server)"
if [ ! -x "$NATS_SERVER" ]; then
  apt_install nats-server
  NATS_SERVER="$(command -v nats-server || echo /usr/sbin/nats-server)"
fi

wait_for() { # name, command
  for _ in $(seq 1 60); do
    if eval "$2" >/dev/null 2>&1; then echo "ci: $1 is up"; return 0; fi
    sleep 0.5
  done
  echo "ci: $1 did not come up" >&2
  return 1
}

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "ci: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
fi
wait_for PostgreSQL "pg_isready -h 127.0.0.1 -p 5432 -q"

if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  echo "ci: starting NATS with JetStream"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec "$NATS_SERVER" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
wait_for NATS "(exec 3<>/dev/tcp/127.0.0.1/4222)"
