#!/usr/bin/env bash
# Peak memory while 16 clients each push a 5120x2880 progressive JPEG through
# thumbnail at once. With plugin worker processes (the default) decoding
# happens in the workers, so the daemon and its workers are sampled together
# every 20 ms: the peak of their summed PSS (shared library pages counted
# once, what the machine really spends) and of their summed RSS (shared
# pages counted in every process, an upper bound).
source "$(dirname "$0")/lib.sh"
need "$PYTHON"
"$BENCH_DIR/corpus.sh" >/dev/null
work="$(mktemp -d)"
trap 'stop_daemon; [[ -n "${SAMPLER:-}" ]] && kill "$SAMPLER" 2>/dev/null; rm -rf "$work"' EXIT
files=("$CACHE_DIR"/corpus/photo-5k/*.jpg)

sampler() {  # sampler <pid> <out>: until killed, writes "peak_pss_mib peak_rss_mib"
  exec "$PYTHON" - "$1" "$2" <<'PY'
import os, signal, sys, time
root, out = int(sys.argv[1]), sys.argv[2]
peak = [0.0, 0.0]
def field(pid, name, path):
    try:
        with open(f'/proc/{pid}/{path}') as f:
            for line in f:
                if line.startswith(name):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
def done(*_):
    with open(out, 'w') as f:
        f.write(f'{peak[0]:.1f} {peak[1]:.1f}\n')
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True:
    kids = []  # workers are children of whichever daemon thread started them
    for tid in os.listdir(f'/proc/{root}/task') if os.path.exists(f'/proc/{root}/task') else []:
        try:
            kids += open(f'/proc/{root}/task/{tid}/children').read().split()
        except OSError:
            pass
    pids = [root] + [int(k) for k in kids]
    pss = sum(field(p, 'Pss:', 'smaps_rollup') for p in pids)
    rss = sum(field(p, 'VmRSS:', 'status') for p in pids)
    peak[0], peak[1] = max(peak[0], pss), max(peak[1], rss)
    time.sleep(0.02)
PY
}

measure() {  # measure <label> [serve flags…]
  local label="$1"; shift
  start_daemon "$work/pm-$label" "$@" ${PIXELMILL_FLAGS:-}
  sampler "$DAEMON_PID" "$work/peak-$label" &
  SAMPLER=$!
  local out
  out=$("$LOADGEN" jobs "$BASE" --plugin thumbnail "${files[@]:0:16}" --clients 16 --param size=256 --unique)
  kill "$SAMPLER"; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=""
  read -r pss rss < "$work/peak-$label"
  stop_daemon
  printf '  %-30s peak PSS %7s MiB   peak RSS sum %7s MiB   errors %s\n' "$label" "$pss" "$rss" \
    "$("$PYTHON" -c "import json,sys; print(json.loads(sys.argv[1])['errors'])" "$out")"
}

echo "peak memory of the daemon and its workers, 16 concurrent 5120x2880 thumbnail jobs (target <= 300 MB)"
measure "isolation process (default)"
measure "isolation none" --isolation none
