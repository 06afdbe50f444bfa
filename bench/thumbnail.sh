#!/usr/bin/env bash
# thumbnail 256 of ~1920x1080 JPEGs, end to end through HTTP (upload, job,
# download) with 16 concurrent clients and distinct inputs, against
# vipsthumbnail as 2 parallel processes over the same files and a synchronous
# FastAPI + Pillow endpoint loaded the same way. Prints images/s and ratios.
source "$(dirname "$0")/lib.sh"
need vipsthumbnail "$PYTHON"
"$BENCH_DIR/corpus.sh" >/dev/null
copies="${COPIES:-3}"
work="$(mktemp -d)"
trap 'stop_daemon; [[ -n "${UVI:-}" ]] && kill $UVI 2>/dev/null; rm -rf "$work"' EXIT

# Distinct bytes for every request, so dedup cannot help: a few bytes after the JPEG's end.
mkdir -p "$work/in" "$work/vt"
for c in $(seq 1 "$copies"); do
  for f in "$CACHE_DIR"/corpus/photo-1080/*.jpg; do
    b=$(basename "$f" .jpg); cp "$f" "$work/in/$b-$c.jpg"; printf 'copy%04d' "$c" >> "$work/in/$b-$c.jpg"
  done
done
files=("$work"/in/*.jpg)
n=${#files[@]}

# vipsthumbnail, 2 processes.
t0=$(date +%s.%N)
printf '%s\n' "${files[@]}" | xargs -P 2 -n 32 vipsthumbnail -s 256 -o "$work/vt/%s.jpg[Q=80,strip]"
t1=$(date +%s.%N)
vt=$("$PYTHON" -c "print(round($n / ($t1 - $t0), 1))")

# FastAPI + Pillow, 2 uvicorn workers (one per core).
port=$((20000 + RANDOM % 20000))
"$PYTHON" -m uvicorn --app-dir "$BENCH_DIR" fastapi_thumb:app --host 127.0.0.1 --port "$port" --workers 2 --log-level warning &
UVI=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/docs" && break; sleep 0.1; done
"$LOADGEN" fastapi "http://127.0.0.1:$port" "${files[@]:0:32}" --clients 16 >/dev/null
fa_json=$("$LOADGEN" fastapi "http://127.0.0.1:$port" "${files[@]}" --clients 16)
kill $UVI; wait $UVI 2>/dev/null || true; UVI=""

# pixelmill, as configured by default (one worker per core) and with two
# workers per core, which keeps the cores busy while a worker waits on fsync.
cores=$(nproc)
pixelmill_run() {
  start_daemon "$work/pm-$1" --workers "$1" ${PIXELMILL_FLAGS:-}
  mkdir -p "$work/warm"; for i in $(seq 1 16); do cp "${files[$i]}" "$work/warm/w$i.jpg"; printf "warm$1" >> "$work/warm/w$i.jpg"; done
  "$LOADGEN" jobs "$BASE" --plugin thumbnail "$work"/warm/*.jpg --clients 16 --param size=256 >/dev/null
  "$LOADGEN" jobs "$BASE" --plugin thumbnail "${files[@]}" --clients 16 --param size=256 --unique
  echo "$(peak_rss_mib "$DAEMON_PID")" > "$work/rss-$1"
  stop_daemon
  rm -rf "$work/pm-$1"
}
pm_json=$(pixelmill_run "$cores")
pm2_json=$(pixelmill_run $((2 * cores)))
rss=$(cat "$work/rss-$cores")

"$PYTHON" - "$n" "$vt" "$fa_json" "$pm_json" "$rss" "$pm2_json" "$cores" <<'PY'
import json, sys
n, vt, fa, pm, rss = int(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5]
pm2, cores = json.loads(sys.argv[6]), int(sys.argv[7])
best = max(vt, fa['per_second'])
print(f"thumbnail 256, {n} distinct 1920x1080 JPEGs, 16 clients")
print(f"  vipsthumbnail x2 processes    {vt:8.1f} images/s")
print(f"  FastAPI + Pillow (2 workers)  {fa['per_second']:8.1f} images/s   p50 {fa['p50_ms']:.0f} ms  errors {fa['errors']}")
print(f"  pixelmill, {cores} workers          {pm['per_second']:8.1f} images/s   p50 {pm['p50_ms']:.0f} ms  errors {pm['errors']}  peak RSS {rss} MiB")
print(f"  pixelmill, {2 * cores} workers          {pm2['per_second']:8.1f} images/s   p50 {pm2['p50_ms']:.0f} ms  errors {pm2['errors']}")
print(f"  ratio pixelmill / best other = {pm['per_second'] / best:.2f}x ({cores} workers), "
      f"{pm2['per_second'] / best:.2f}x ({2 * cores} workers)   (target >= 1.2x)")
PY
