#!/bin/sh
# The official image's contract, in short: initdb on first start with POSTGRES_PASSWORD,
# POSTGRES_DB and POSTGRES_HOST_AUTH_METHOD (the init server listens on its socket only), then
# postgres on every interface.
set -e
mkdir -p "$PGDATA" /run/postgresql && chown -R postgres:postgres "$PGDATA" /run/postgresql && chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  su postgres -c "initdb -D '$PGDATA' -U postgres --auth-host=scram-sha-256 --auth-local=trust" >/dev/null
  if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then echo "host all all all trust"; else echo "host all all all scram-sha-256"; fi >> "$PGDATA/pg_hba.conf"
  su postgres -c "pg_ctl -D '$PGDATA' -o \"-c listen_addresses=''\" -w start" >/dev/null
  su postgres -c "psql -q -c \"alter user postgres password '${POSTGRES_PASSWORD:-postgres}'\""
  [ -n "$POSTGRES_DB" ] && [ "$POSTGRES_DB" != postgres ] && su postgres -c "createdb '$POSTGRES_DB'"
  su postgres -c "pg_ctl -D '$PGDATA' -m fast -w stop" >/dev/null
fi
exec su postgres -c "postgres -D '$PGDATA' -c listen_addresses='*'"
