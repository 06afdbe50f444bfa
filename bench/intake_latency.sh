#!/usr/bin/env bash
# What another client sees while the slow intake steps run: GET /healthz and
# GET /v1/status latency (one client, every 10 ms) on an idle daemon, then
# while 4 clients upload 4 MB adversarial SVGs (each read whole before it is
# refused) and 4 clients submit the whole gnuplot manual (every page counted
# by a worker probe), the loaders first at the daemon's priority, then
# niced as clients on other machines would be. Target: /healthz p99 < 20 ms
# under that load.
#
#   BUILD_DIR=build bench/intake_latency.sh [SECONDS]
source "$(dirname "$0")/lib.sh"
need curl "$PYTHON"
"$BENCH_DIR/corpus.sh" >/dev/null
SECONDS_LOADED="${1:-20}"
pdf="$CACHE_DIR/corpus/root/usr/share/doc/gnuplot/gnuplot.pdf"
[[ -f "$pdf" ]] || pdf="$CACHE_DIR/corpus/doc-50.pdf"
work="$(mktemp -d)"
loaders=()
trap 'for p in "${loaders[@]}"; do kill "$p" 2>/dev/null; done; stop_daemon; rm -rf "$work"' EXIT

"$PYTHON" - "$work/hostile.svg" <<'PY'
import sys
s = "<svg" + "#href=" * ((4 << 20) // 6)
open(sys.argv[1], "w").write(s)
PY

start_daemon "$work/pm" ${PIXELMILL_FLAGS:-}
idle=$("$LOADGEN" probe "$BASE" --duration 5 /healthz /v1/status)

# Each loader loops until killed; a PDF gets a distinct tail each time (no dedup).
# load <niceness>: starts the 8 loaders at that niceness, measures, stops them.
load() {
  local nice="$1"
  for i in 1 2 3 4; do
    ( renice -n "$nice" "$BASHPID" >/dev/null
      while :; do curl -s -o /dev/null -F file=@"$work/hostile.svg" "$BASE/v1/jobs?plugin=thumbnail"; done ) >/dev/null &
    loaders+=($!)
    ( renice -n "$nice" "$BASHPID" >/dev/null; n=0; while :; do
        n=$((n + 1)); cp "$pdf" "$work/doc-$i.pdf"; printf '%%%% %d %d\n' "$i" "$n" >> "$work/doc-$i.pdf"
        curl -s -o /dev/null -F file=@"$work/doc-$i.pdf" "$BASE/v1/jobs?plugin=pdf2png&pages=1&dpi=10"
      done ) >/dev/null &
    loaders+=($!)
  done
  sleep 2
  "$LOADGEN" probe "$BASE" --duration "$SECONDS_LOADED" /healthz /v1/status
  for p in "${loaders[@]}"; do kill "$p" 2>/dev/null; done
  loaders=()
  sleep 1
}
# The loaders share this machine's two cores with the daemon; clients on
# other machines would not. Measured twice: loaders at the daemon's
# priority, then niced below it, which leaves the cores to the daemon as
# remote clients would (the daemon still does all the work they ask for).
loaded=$(load 0)
remote=$(load 10)
stop_daemon

"$PYTHON" - "$idle" "$loaded" "$remote" "$(du -h "$pdf" | cut -f1)" <<'PY'
import json, sys
idle, loaded, remote = (json.loads(a) for a in sys.argv[1:4])
size = sys.argv[4]
print(f"another client's GET /healthz + /v1/status (4 hostile 4 MB SVG uploaders, 4 uploaders of a {size} PDF)")
for label, r in (("idle", idle), ("under load, loaders at the daemon's priority", loaded),
                 ("under load, loaders niced (as remote clients)", remote)):
    print(f"  {label:<46} p50 {r['p50_ms']:6.2f} ms  p95 {r['p95_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
          f"max {r['max_ms']:7.2f} ms  ({r['requests']} requests, {r['errors']} errors)")
for label, r in (("loaders at the daemon's priority", loaded), ("loaders niced", remote)):
    print(f"  target: p99 under load < 20 ms, {label} -> {'met' if r['p99_ms'] < 20 else 'missed'}")
PY
