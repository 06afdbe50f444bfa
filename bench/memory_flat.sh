#!/usr/bin/env bash
# Memory that stays flat: 2,000 mixed jobs in 10 rounds of 200 (1080p JPEG
# thumbnails, PNG resizes, 5K progressive JPEGs to ASCII, PDF pages), 16
# clients, distinct bytes every time. After each round the resident memory
# of the daemon and its worker processes is read (PSS summed, shared
# libraries counted once, and RSS summed). Growth is measured from the end of
# round 2 (warm: every plugin and code path has run) to the end of round 10.
# Target: < 10%.
#
#   BUILD_DIR=build bench/memory_flat.sh
source "$(dirname "$0")/lib.sh"
need vips "$PYTHON"
"$BENCH_DIR/corpus.sh" >/dev/null
work="$(mktemp -d)"
trap 'stop_daemon; rm -rf "$work"' EXIT
mkdir -p "$work/png"
for i in $(seq 1 20); do vips copy "$(ls "$CACHE_DIR"/corpus/photo-1080/*.jpg | sed -n "${i}p")" "$work/png/p$i.png"; done
start_daemon "$work/pm" ${PIXELMILL_FLAGS:-}

memory() {  # "pss_mib rss_mib" of the daemon and its workers now
  "$PYTHON" - "$DAEMON_PID" <<'PY'
import os, sys
root = int(sys.argv[1])
kids = []
for tid in os.listdir(f'/proc/{root}/task'):
    try:
        kids += open(f'/proc/{root}/task/{tid}/children').read().split()
    except OSError:
        pass
def field(pid, name, path):
    try:
        for line in open(f'/proc/{pid}/{path}'):
            if line.startswith(name):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
pids = [root] + [int(k) for k in kids]
print(f"{sum(field(p, 'Pss:', 'smaps_rollup') for p in pids):.1f} {sum(field(p, 'VmRSS:', 'status') for p in pids):.1f} {len(pids) - 1}")
PY
}

photos=("$CACHE_DIR"/corpus/photo-1080/*.jpg)
big=("$CACHE_DIR"/corpus/photo-5k/*.jpg)
pngs=("$work"/png/*.png)
errors=0
declare -a pss_by_round
echo "memory of daemon + workers after each round of 200 mixed jobs"
printf '%6s %10s %10s %8s %8s\n' round "PSS MiB" "RSS MiB" workers errors
for round in $(seq 1 10); do
  e=0
  for spec in "thumbnail 100 --param size=256 ${photos[*]}" \
              "resize 50 --param width=640 ${pngs[*]}" \
              "ascii 40 --param width=100 ${big[*]}" \
              "pdf2png 10 --param pages=1-2 $CACHE_DIR/corpus/doc-50.pdf"; do
    read -r plugin count rest <<<"$spec"
    out=$("$LOADGEN" jobs "$BASE" --plugin "$plugin" --requests "$count" --clients 16 --unique $rest || true)
    e=$((e + $("$PYTHON" -c "import json,sys; print(json.loads(sys.argv[1])['errors'])" "$out")))
  done
  errors=$((errors + e))
  read -r pss rss workers < <(memory)
  pss_by_round[$round]=$pss
  printf '%6s %10s %10s %8s %8s\n' "$round" "$pss" "$rss" "$workers" "$e"
done
"$PYTHON" -c "
w, end = float('${pss_by_round[2]}'), float('${pss_by_round[10]}')
print(f'growth after warm-up (round 2 -> 10): {100 * (end - w) / w:+.1f}%   (target < 10%)   errors: $errors')"
