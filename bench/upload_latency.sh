#!/usr/bin/env bash
# Time from `curl -F file=@photo.jpg` (a ~5 MB JPEG, sent as curl sends it by
# default, Expect: 100-continue included) to the 202, on loopback.
#   bench/upload_latency.sh [runs]
source "$(dirname "$0")/lib.sh"
need curl vips python3
runs="${1:-30}"
work="$(mktemp -d)"
trap 'stop_daemon; rm -rf "$work"' EXIT

photo="$CACHE_DIR/upload-5mb.jpg"
if [[ ! -f "$photo" ]]; then
  # Noise compresses badly: a 2400x1800 noisy picture at Q=95 is about 5 MB.
  vips gaussnoise "$work/noise.v" 2400 1800 --sigma 60 --mean 128
  vips bandjoin "$work/noise.v $work/noise.v $work/noise.v" "$work/rgb.v"
  vips cast "$work/rgb.v" "$work/rgb8.v" uchar
  vips copy "$work/rgb8.v" "$photo[Q=95]"
fi
size=$(stat -c %s "$photo")
start_daemon "$work" --workers 2 ${UPLOAD_FLAGS:-}

times=()
for i in $(seq 1 "$runs"); do
  # A distinct file each time, so dedup cannot answer early.
  cp "$photo" "$work/p$i.jpg"
  printf '%08d' "$i" >> "$work/p$i.jpg"
  t=$(curl -s -o /dev/null -w '%{time_total} %{http_code}' -F "file=@$work/p$i.jpg" -F plugin=thumbnail "$BASE/v1/jobs")
  [[ "${t#* }" == "202" ]] || { echo "unexpected status: $t"; exit 1; }
  times+=("${t% *}")
done
printf '%s\n' "${times[@]}" | python3 -c '
import sys, statistics
t = sorted(float(x) * 1000 for x in sys.stdin)
p = lambda q: t[min(len(t) - 1, int(q * len(t)))]
print(f"upload {int(sys.argv[1]) / 1e6:.1f} MB x {len(t)}: median {statistics.median(t):.1f} ms, p95 {p(0.95):.1f} ms, max {t[-1]:.1f} ms (target < 100 ms)")
' "$size"
