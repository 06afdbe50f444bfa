#!/usr/bin/env bash
# Peak resident memory of the daemon while 16 clients each push a 5120x2880
# progressive JPEG through thumbnail at once.
source "$(dirname "$0")/lib.sh"
need "$PYTHON"
"$BENCH_DIR/corpus.sh" >/dev/null
work="$(mktemp -d)"
trap 'stop_daemon; rm -rf "$work"' EXIT
start_daemon "$work/pm" ${PIXELMILL_FLAGS:-}
idle=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$DAEMON_PID/status")
files=("$CACHE_DIR"/corpus/photo-5k/*.jpg)
out=$("$LOADGEN" jobs "$BASE" --plugin thumbnail "${files[@]:0:16}" --clients 16 --param size=256)
peak=$(peak_rss_mib "$DAEMON_PID")
stop_daemon
echo "peak RSS, 16 concurrent 5120x2880 thumbnail jobs: ${peak} MiB (idle ${idle} MiB; target <= 300 MB)  $out"
