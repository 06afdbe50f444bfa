#!/usr/bin/env bash
# Dashboard render times at scale: seeds N jobs (default 100000) straight into
# a stopped daemon's SQLite file (bench/dashboard_seed.py), starts the daemon
# on it, and prints the median and p95 of 20 requests to each page.
# Target: every page under 100 ms.
#
#   BUILD_DIR=build bench/dashboard.sh [N]
source "$(dirname "$0")/lib.sh"
need curl
N="${1:-100000}"
REQUESTS="${REQUESTS:-20}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/pixelmill-dashboard-bench.XXXXXX")"
trap 'stop_daemon; rm -rf "$WORK"' EXIT

# One start creates the database and applies the migrations; then it is seeded while stopped.
start_daemon "$WORK" --workers 1
stop_daemon
"$PYTHON" "$BENCH_DIR/dashboard_seed.py" "$WORK/data/pixelmill.db" "$N"
start_daemon "$WORK" --workers 1

q() { "$PYTHON" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" \
        "$WORK/data/pixelmill.db" "$1"; }
job=$(q "SELECT id FROM jobs WHERE state = 'succeeded' AND plugin = 'pdf2png' ORDER BY seq DESC LIMIT 1")
failed=$(q "SELECT id FROM jobs WHERE state = 'failed' ORDER BY seq DESC LIMIT 1")
deep=$(q "SELECT seq FROM jobs ORDER BY seq LIMIT 1 OFFSET 1000")
prefix=$(q "SELECT substr(id, 1, 4) FROM jobs ORDER BY seq DESC LIMIT 1")
name=$(q "SELECT substr(filename, 1, 11) FROM originals ORDER BY rowid DESC LIMIT 1 OFFSET 500")

pages=(
  "/dashboard"
  "/dashboard/jobs"
  "/dashboard/jobs?state=failed"
  "/dashboard/jobs?state=succeeded&plugin=ascii"
  "/dashboard/jobs?before=$deep"
  "/dashboard/jobs?q=$name"
  "/dashboard/jobs?q=img_"
  "/dashboard/jobs?q=$prefix"
  "/dashboard/jobs?q=nomatch"
  "/dashboard/jobs/$job"
  "/dashboard/jobs/$failed"
  "/dashboard/originals"
  "/dashboard/originals?pending=true"
  "/dashboard/plugins"
  "/dashboard/submit"
)

echo "dashboard render time, $N jobs, $REQUESTS requests per page (seconds → ms)"
printf '%-58s %8s %8s %8s\n' "page" "median" "p95" "bytes"
worst=0
for p in "${pages[@]}"; do
  curl -s -o /dev/null "$BASE$p"  # warm the statement cache
  times=()
  for _ in $(seq 1 "$REQUESTS"); do
    times+=("$(curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}' "$BASE$p")")
  done
  read -r median p95 bytes code < <(printf '%s\n' "${times[@]}" | "$PYTHON" -c '
import statistics, sys
rows = [l.split() for l in sys.stdin if l.strip()]
ms = sorted(float(r[1]) * 1000 for r in rows)
p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
codes = "+".join(sorted({r[0] for r in rows}))
print(f"{statistics.median(ms):.1f} {p95:.1f} {rows[-1][2]} {codes}")')
  printf '%-58s %7sms %7sms %8s%s\n' "${p:0:58}" "$median" "$p95" "$bytes" "$([[ $code == 200 ]] || echo "  (HTTP $code)")"
  worst=$("$PYTHON" -c "print(max($worst, $p95))")
done
echo "worst p95: ${worst} ms (target < 100 ms)"
