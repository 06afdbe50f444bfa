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

# start_postgres <workdir>: a throwaway PostgreSQL (Debian's postgresql
# package) in <workdir>/pg on a loopback port, durable, owned by nobody when
# run as root (initdb refuses root). Sets PG_BIN and PG_PORT; superuser
# `pixelmill`, no password. stop_postgres <workdir> stops it. Its settings are
# those README "PostgreSQL" asks of a server that keeps a job queue: shared
# buffers that hold the jobs table and its indexes (1 GB here; Debian's 128 MB
# default made the soak's rate fall by a quarter past ~300,000 jobs) and a
# max_wal_size that lets checkpoints come by time rather than by WAL volume,
# with the page images written after each checkpoint compressed.
# PG_OPTS adds or overrides settings, e.g.
# PG_OPTS="-c shared_preload_libraries=pg_stat_statements" to see which
# statements a run spends its time in, or PG_OPTS="-c shared_buffers=128MB".
as_pg() {
  if [[ "$(id -u)" -eq 0 ]]; then setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; else "$@"; fi
}
start_postgres() {
  local work="$1"
  PG_BIN="$(pg_config --bindir 2>/dev/null || true)"
  [[ -x "$PG_BIN/initdb" ]] || PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [[ -x "$PG_BIN/initdb" ]] || { echo "bench: PostgreSQL is missing (apt-get install postgresql)" >&2; exit 1; }
  chmod 755 "$work"
  mkdir -p "$work/pg"
  if [[ "$(id -u)" -eq 0 ]]; then chown nobody:nogroup "$work/pg"; fi
  as_pg "$PG_BIN/initdb" -D "$work/pg" -A trust -U pixelmill >/dev/null
  PG_PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_pg "$PG_BIN/pg_ctl" -D "$work/pg" -w -l "$work/pg/log" \
    -o "-p $PG_PORT -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=300 \
       -c shared_buffers=1GB -c max_wal_size=4GB -c wal_compression=lz4 ${PG_OPTS:-}" \
    start >/dev/null
}
stop_postgres() {
  [[ -n "${PG_BIN:-}" && -d "$1/pg" ]] && as_pg "$PG_BIN/pg_ctl" -D "$1/pg" -m immediate stop >/dev/null 2>&1 || true
}

# Resident memory (MiB) and open file descriptors of a process and its
# children (the daemon and its worker processes): "RSS FDS".
rss_fds() {
  local pids=("$1") rss=0 fds=0 p
  mapfile -t -O 1 pids < <(pgrep -P "$1" || true)
  for p in "${pids[@]}"; do
    rss=$(( rss + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0) ))
    fds=$(( fds + $(ls "/proc/$p/fd" 2>/dev/null | wc -l) ))
  done
  echo "$(( rss / 1024 )) $fds"
}
