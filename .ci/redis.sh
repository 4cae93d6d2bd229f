#!/usr/bin/env bash
# Start a throw-away local Redis for the distributed-queue tests; prints its URL on stdout.
# Installs Debian's redis-server if it is missing. Any failure prints nothing (those tests then skip).
set -uo pipefail
PORT=${QA_CI_REDIS_PORT:-56379}
# a server left over from an earlier run on this machine may hold the port: take the next free one
while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && [ "$PORT" -lt 56399 ]; do PORT=$((PORT + 1)); done
DIR=${QA_CI_REDIS_DIR:-/tmp/qa-ci-redis}
if ! command -v redis-server >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null 2>&1
fi
command -v redis-server >/dev/null || { echo "redis: not available, Dramatiq tests will skip" >&2; exit 0; }
rm -rf "$DIR" && mkdir -p "$DIR"
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save "" --appendonly no --daemonize yes \
  --logfile "$DIR/log" --pidfile "$DIR/pid" >/dev/null 2>&1 || { echo "redis: start failed" >&2; exit 0; }
for _ in $(seq 50); do
  redis-cli -p "$PORT" ping >/dev/null 2>&1 && { echo "redis://127.0.0.1:$PORT/0"; exit 0; }
  sleep 0.1
done
echo "redis: did not answer (see $DIR/log)" >&2
