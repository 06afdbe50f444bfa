#!/usr/bin/env bash
# ascii, 100 columns, over 100 distinct JPEGs (68 baseline 1920x1080 and 32
# progressive 5120x2880) through the daemon with 16 clients, against
# `jp2a --width=100` run as 2 parallel processes over the same files.
source "$(dirname "$0")/lib.sh"
need jp2a "$PYTHON"
"$BENCH_DIR/corpus.sh" >/dev/null
work="$(mktemp -d)"
trap 'stop_daemon; rm -rf "$work"' EXIT
files=($(ls "$CACHE_DIR"/corpus/photo-1080/*.jpg | head -68) $(ls "$CACHE_DIR"/corpus/photo-5k/*.jpg))
n=${#files[@]}

best_jp2a=0
for run in 1 2; do
  t0=$(date +%s.%N)
  printf '%s\n' "${files[@]}" | xargs -P 2 -I{} sh -c 'jp2a --width=100 "$1" > /dev/null' _ {}
  t1=$(date +%s.%N)
  best_jp2a=$("$PYTHON" -c "print(max($best_jp2a, $n / ($t1 - $t0)))")
done

start_daemon "$work/pm" ${PIXELMILL_FLAGS:-}
best_pm=0
for run in 1 2; do
  mkdir -p "$work/r$run"
  for f in "${files[@]}"; do b=$(basename "$f"); cp "$f" "$work/r$run/$b"; printf 'run%d' "$run" >> "$work/r$run/$b"; done
  out=$("$LOADGEN" jobs "$BASE" --plugin ascii "$work"/r$run/*.jpg --clients 16 --param width=100)
  rate=$("$PYTHON" -c "import json,sys; d=json.loads(sys.argv[1]); assert d['errors']==0, d; print(d['per_second'])" "$out")
  best_pm=$("$PYTHON" -c "print(max($best_pm, $rate))")
done
stop_daemon
"$PYTHON" - "$n" "$best_jp2a" "$best_pm" <<'PY'
import sys
n, j, p = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"ascii width 100, {n} distinct JPEGs (1080p baseline + 5K progressive), best of 2")
print(f"  jp2a --width=100, 2 processes {j:8.1f} images/s")
print(f"  pixelmill, 16 clients         {p:8.1f} images/s")
print(f"  ratio = {p / j:.2f}x   (target >= 1.0x)")
PY
