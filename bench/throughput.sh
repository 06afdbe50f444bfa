#!/usr/bin/env bash
# Queue throughput and submit latency: 32 clients submit as fast as they can
# (multipart, distinct bytes so dedup cannot answer); completion is observed
# through GET /v1/status, not by polling each job. Two loads:
#   tiny: 16-px thumbnail of a 64x64 PNG (real libvips work, tiny)
#   noop: the fixture plugin that does nothing (the queue's own cost)
# First, what running a plugin in a worker process costs against running it
# in the daemon, per job and with a caller per core (pixelmill-process-hop-bench).
# Prints accepted/s, completed/s and the submit latency p50/p99; then the
# no-op load on one daemon whose store is PostgreSQL (a throwaway cluster,
# see start_postgres), as a ratio of the SQLite rate of the same run.
#
#   BUILD_DIR=build bench/throughput.sh [JOBS]
source "$(dirname "$0")/lib.sh"
need vips
JOBS="${1:-4000}"
CLIENTS="${CLIENTS:-32}"
work="$(mktemp -d)"
trap 'stop_daemon; stop_postgres "$work"; rm -rf "$work"' EXIT
vips black "$work/tiny.png" 64 64 --bands 3
mkdir -p "$work/plugins"
ln -s "$BUILD_DIR"/plugins/thumbnail.so "$work/plugins/"
ln -s "$BUILD_DIR"/test-plugins/fixture_noop.so "$work/plugins/"

run() {  # run <label> <plugin> [param] -- [serve flags…]
  local label="$1" plugin="$2" param="$3"; shift 4
  start_daemon "$work/pm-$label" --plugin-dir "$work/plugins" "$@" ${PIXELMILL_FLAGS:-}
  "$LOADGEN" submit "$BASE" --plugin "$plugin" $param --clients "$CLIENTS" --requests 200 --unique "$work/tiny.png" >/dev/null
  local out
  out=$("$LOADGEN" submit "$BASE" --plugin "$plugin" $param --clients "$CLIENTS" --requests "$JOBS" --unique "$work/tiny.png")
  stop_daemon
  echo "$out" > "$work/$plugin-$label.json"
  "$PYTHON" - "$label" "$out" <<'PY'
import json, sys
label, r = sys.argv[1], json.loads(sys.argv[2])
print(f"  {label:<34} accepted {r['per_second']:7.0f}/s   completed {r['finished_per_second']:7.0f}/s   "
      f"submit p50 {r['p50_ms']:5.1f} ms  p99 {r['p99_ms']:5.1f} ms   errors {r['errors']}")
PY
}

# What the worker process hop costs by itself: the same jobs through the
# daemon's two executors, without HTTP or the store (bench/process_hop).
echo "plugin call in this process vs in a worker process (no HTTP, no store), durable outputs"
for plugin in noop thumbnail; do
  param=""; [[ $plugin == thumbnail ]] && param="--param size=16"
  "$BUILD_DIR/bin/pixelmill-process-hop-bench" --pixelmill "$PIXELMILL" --plugin-dir "$work/plugins" \
    --plugin "$plugin" $param --jobs 1000 2>/dev/null | sed 's/^/  /'
done

echo "queue throughput, $JOBS jobs, $CLIENTS clients, durable (fsync on)"
run "tiny thumbnail (process isolation)" thumbnail "--param size=16" --
run "tiny thumbnail (isolation none)" thumbnail "--param size=16" -- --isolation none
run "noop (process isolation)" noop "" --
run "noop (isolation none)" noop "" -- --isolation none

if command -v pg_config >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  start_postgres "$work"
  as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U pixelmill throughput
  run "noop, PostgreSQL store" noop "" -- --store "postgres://pixelmill@127.0.0.1:$PG_PORT/throughput" \
    --blob-dir "$work/pg-blobs"
  stop_postgres "$work"
  "$PYTHON" - "$work/noop-noop (process isolation).json" "$work/noop-noop, PostgreSQL store.json" <<'PY'
import json, sys
sqlite, pg = (json.load(open(p)) for p in sys.argv[1:3])
print(f"  PostgreSQL / SQLite, no-op completed/s: {pg['finished_per_second'] / sqlite['finished_per_second']:.2f} (target >= 0.8)")
PY
else
  echo "  (PostgreSQL not installed: the PostgreSQL row is skipped)"
fi
