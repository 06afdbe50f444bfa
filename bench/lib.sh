# Shared helpers for the benchmark scripts (sourced, not run).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
BUILD_DIR="$(realpath "${BUILD_DIR:-$REPO_DIR/build}")"  # absolute: scripts link plugins from it
PIXELMILL="$BUILD_DIR/bin/pixelmill"
# The C++ load generator (bench/loadgen): a Python client would compete for the cores.
LOADGEN="$BUILD_DIR/bin/pixelmill-loadgen"
CACHE_DIR="${BENCH_CACHE:-$BENCH_DIR/.cache}"
mkdir -p "$CACHE_DIR"
# Debian's interpreter: the FastAPI/Pillow comparison uses its packages.
PYTHON="${PYTHON:-/usr/bin/python3}"

need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "bench: '$tool' is missing (scripts/install-deps.sh --bench installs it)" >&2; exit 1; }
  done
}

# start_daemon <workdir> [serve flags…]: starts pixelmill on a free port,
# sets DAEMON_PID and BASE (http://127.0.0.1:PORT). Every load-generator
# client connects from 127.0.0.1, so the per-client connection cap is lifted.
start_daemon() {
  local work="$1"; shift
  mkdir -p "$work"
  "$PIXELMILL" serve --listen 127.0.0.1:0 --data-dir "$work/data" --log-level "${BENCH_LOG_LEVEL:-warn}" \
    --max-connections-per-client 4096 "$@" \
    > "$work/daemon.log" 2>&1 &
  DAEMON_PID=$!
  local port=""
  for _ in $(seq 1 300); do
    port=$(grep -o 'event=listening .*port=[0-9]*' "$work/daemon.log" 2>/dev/null | grep -o 'port=[0-9]*' | cut -d= -f2 || true)
    [[ -n "$port" ]] && break
    # --log-level warn hides the listening line: ask the kernel instead.
    port=$(ss -ltnpH 2>/dev/null | grep "pid=$DAEMON_PID," | grep -o '127.0.0.1:[0-9]*' | head -1 | cut -d: -f2 || true)
    [[ -n "$port" ]] && break
    sleep 0.05
  done
  [[ -n "$port" ]] || { echo "bench: daemon did not start"; cat "$work/daemon.log"; exit 1; }
  BASE="http://127.0.0.1:$port"
}

stop_daemon() {
  if [[ -n "${DAEMON_PID:-}" ]]; then
    kill "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=""
  fi
}

# Peak resident memory of a process in MiB (VmHWM).
peak_rss_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
