#!/bin/bash
# The API server's benchmark (BENCHMARKS.md, "Control plane: API server"): scripts/bench-api.py
# against `xdpswitch server` on a fresh SQLite file, then on a fresh PostgreSQL cluster of its
# own (Debian's postgresql, a unix socket in a temporary folder, fsync on as in production).
#   scripts/bench-api.sh [XDPSWITCH]     (default: .build/release/xdpswitch, built if missing)
# BENCH_API_ARGS adds arguments to bench-api.py (e.g. "--ports 200").
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
BINARY=${1:-$HERE/.build/release/xdpswitch}
if [ ! -x "$BINARY" ]; then
  (cd "$HERE" && swift build -c release --product xdpswitch)
fi
WORK=$(mktemp -d /tmp/xdpswitch-bench-api.XXXXXX)
SERVER_PID=""
PG_BIN=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$PG_BIN" ] && [ -d "$WORK/pg/data" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -w -m fast stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Starts the server on DATABASE, sets SERVER_PID and ENDPOINT (the port the kernel gave it).
start_server() {
  : > "$WORK/server.out"   # before the server starts: the previous server's port must not be read
  "$BINARY" server --listen 127.0.0.1:0 --database "$1" > "$WORK/server.out" 2> "$WORK/server.err" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    ENDPOINT=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/server.out" || true)
    [ -n "$ENDPOINT" ] && return 0
    sleep 0.1
  done
  cat "$WORK/server.err" >&2
  echo "bench-api: the server did not start" >&2
  exit 1
}

stop_server() {
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
}

echo "== SQLite"
start_server "$WORK/model.db"
python3 "$HERE/scripts/bench-api.py" --endpoint "$ENDPOINT" --label SQLite --json "$WORK/sqlite.json" ${BENCH_API_ARGS:-}
stop_server

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$PG_BIN" ] || [ "$(id -u)" != 0 ]; then
  echo "bench-api: PostgreSQL skipped (needs Debian's postgresql package and root to run it as the postgres user)"
  exit 0
fi
echo "== PostgreSQL"
mkdir -p "$WORK/pg/socket"
chown -R postgres:postgres "$WORK/pg"
chmod 755 "$WORK"
runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres -A trust >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -w -l "$WORK/pg/postgres.log" start \
  -o "-k $WORK/pg/socket -c listen_addresses=''" >/dev/null
start_server "postgres://postgres@/postgres?host=$WORK/pg/socket"
python3 "$HERE/scripts/bench-api.py" --endpoint "$ENDPOINT" --label PostgreSQL --json "$WORK/postgres.json" ${BENCH_API_ARGS:-}
stop_server
