#!/usr/bin/env bash
# Start a throw-away local PostgreSQL for the store tests; prints its SQLAlchemy URL on stdout.
# Installs Debian's postgresql if it is missing. Any failure prints nothing (the tests then skip).
set -uo pipefail
PORT=${QA_CI_PG_PORT:-55432}
# a server left over from an earlier run on this machine may hold the port: take the next free one
while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && [ "$PORT" -lt 55452 ]; do PORT=$((PORT + 1)); done
DIR=${QA_CI_PG_DIR:-/tmp/qa-ci-pg}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
[ -n "$bin" ] || { echo "postgres: not available, PostgreSQL store tests will skip" >&2; exit 0; }
run() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
rm -rf "$DIR" && mkdir -p "$DIR" && { [ "$(id -u)" != 0 ] || chown postgres "$DIR"; }
run "$bin/initdb -D $DIR/data -A trust -U qa" >/dev/null 2>&1 || { echo "postgres: initdb failed" >&2; exit 0; }
run "$bin/pg_ctl -D $DIR/data -o '-p $PORT -k $DIR -c listen_addresses=127.0.0.1' -l $DIR/log -w start" >/dev/null 2>&1 \
  || { echo "postgres: start failed (see $DIR/log)" >&2; exit 0; }
"$bin/psql" -h 127.0.0.1 -p "$PORT" -U qa -d postgres -qc "create database qa_test" >/dev/null 2>&1 || true
echo "postgresql+psycopg://qa@127.0.0.1:$PORT/qa_test"
