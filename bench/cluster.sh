#!/usr/bin/env bash
# Several daemons on one PostgreSQL: jobs/s for 1, 2 and 3 daemons (DAEMONS
# to change the list) sharing one database and one blob folder, 32 clients
# spread over the daemons, distinct bytes, completion read from /v1/status.
# The SQLite daemon on the same machine is the first line, for reference.
# PostgreSQL (Debian's postgresql package) runs in a temp folder on a
# loopback port, durable (fsync and synchronous_commit on).
#
#   BUILD_DIR=build bench/cluster.sh [JOBS]
source "$(dirname "$0")/lib.sh"
need vips
JOBS="${1:-3000}"
CLIENTS="${CLIENTS:-32}"
DAEMONS="${DAEMONS:-1 2 3}"
PLUGINS="${PLUGINS:-thumbnail noop}"

work="$(mktemp -d)"
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; stop_postgres "$work"; rm -rf "$work"' EXIT
start_postgres "$work"

vips black "$work/tiny.png" 64 64 --bands 3
mkdir -p "$work/plugins"
ln -s "$BUILD_DIR"/plugins/thumbnail.so "$work/plugins/"
ln -s "$BUILD_DIR"/test-plugins/fixture_noop.so "$work/plugins/"

# start_nodes <n> <store> <label>: n daemons on free ports; sets URLS.
start_nodes() {
  local n="$1" store="$2" label="$3" urls=()
  for i in $(seq 1 "$n"); do
    local flags=(--plugin-dir "$work/plugins")
    [[ "$store" != sqlite ]] && flags+=(--store "$store" --blob-dir "$work/blobs-$label")
    start_daemon "$work/$label-$i" "${flags[@]}" ${PIXELMILL_FLAGS:-}
    pids+=("$DAEMON_PID")
    urls+=("$BASE")
  done
  URLS=$(IFS=,; echo "${urls[*]}")
  DAEMON_PID=""
}

report() {
  "$PYTHON" - "$1" "$2" <<'PY'
import json, sys
label, r = sys.argv[1], json.loads(sys.argv[2])
print(f"  {label:<30} accepted {r['per_second']:7.0f}/s   completed {r['finished_per_second']:7.0f}/s   "
      f"submit p50 {r['p50_ms']:5.1f} ms  p99 {r['p99_ms']:6.1f} ms   errors {r['errors']}")
PY
}

for plugin in $PLUGINS; do
  param=""; [[ "$plugin" == thumbnail ]] && param="--param size=16"
  echo "$plugin: $JOBS jobs, $CLIENTS clients, $(nproc) cores, durable"
  start_nodes 1 sqlite "sqlite-$plugin"
  "$LOADGEN" submit "$URLS" --plugin "$plugin" $param --clients "$CLIENTS" --requests 200 --unique "$work/tiny.png" >/dev/null
  report "1 daemon, SQLite" "$("$LOADGEN" submit "$URLS" --plugin "$plugin" $param --clients "$CLIENTS" --requests "$JOBS" --unique "$work/tiny.png")"
  stop_all
  for n in $DAEMONS; do
    db="pm_${plugin}_$n"
    as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U pixelmill "$db"
    start_nodes "$n" "postgres://pixelmill@127.0.0.1:$PG_PORT/$db" "pg-$plugin-$n"
    "$LOADGEN" submit "$URLS" --plugin "$plugin" $param --clients "$CLIENTS" --requests 200 --unique "$work/tiny.png" >/dev/null
    report "$n daemon(s), PostgreSQL" "$("$LOADGEN" submit "$URLS" --plugin "$plugin" $param --clients "$CLIENTS" --requests "$JOBS" --unique "$work/tiny.png")"
    stop_all
  done
done
