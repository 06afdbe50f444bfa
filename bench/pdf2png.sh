#!/usr/bin/env bash
# pdf2png at 72 dpi of one 50-page PDF (gnuplot's manual): pages/s of the
# daemon (submit with ?wait, then download every page) against one
# `pdftoppm -r 72 -png` process. Best of 3 runs each.
source "$(dirname "$0")/lib.sh"
need pdftoppm "$PYTHON"
"$BENCH_DIR/corpus.sh" >/dev/null
pdf="$CACHE_DIR/corpus/doc-50.pdf"
work="$(mktemp -d)"
trap 'stop_daemon; rm -rf "$work"' EXIT

best_pdftoppm=0
for run in 1 2 3; do
  rm -rf "$work/pp"; mkdir -p "$work/pp"
  t0=$(date +%s.%N); pdftoppm -r 72 -png "$pdf" "$work/pp/page" 2>/dev/null; t1=$(date +%s.%N)
  best_pdftoppm=$("$PYTHON" -c "print(max($best_pdftoppm, 50 / ($t1 - $t0)))")
done

start_daemon "$work/pm" ${PIXELMILL_FLAGS:-}
best_pm=0
for run in 1 2 3; do
  # A distinct copy each run: dedup would answer at once.
  cp "$pdf" "$work/doc-$run.pdf"; printf '%%%% run %d\n' "$run" >> "$work/doc-$run.pdf"
  out=$("$LOADGEN" jobs "$BASE" --plugin pdf2png "$work/doc-$run.pdf" --clients 1 --param dpi=72)
  pages_per_s=$("$PYTHON" -c "import json,sys; d=json.loads(sys.argv[1]); assert d['errors']==0, d; print(50 / d['seconds'])" "$out")
  best_pm=$("$PYTHON" -c "print(max($best_pm, $pages_per_s))")
done
stop_daemon
"$PYTHON" - "$best_pdftoppm" "$best_pm" <<'PY'
import sys
pp, pm = float(sys.argv[1]), float(sys.argv[2])
print("pdf2png 72 dpi, one 50-page PDF (best of 3)")
print(f"  pdftoppm -r 72 -png (1 process) {pp:8.1f} pages/s")
print(f"  pixelmill (upload to last page)  {pm:8.1f} pages/s")
print(f"  ratio = {pm / pp:.2f}x   (target >= 1.8x)")
PY
