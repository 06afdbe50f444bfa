#!/usr/bin/env bash
# How throughput grows with workers: thumbnail 256 of the 1920x1080 JPEGs
# (images/s) and pdf2png 72 dpi of copies of the 50-page PDF (pages/s), at
# each worker count of WORKERS_LIST, with one daemon per count, and each
# rate as a multiple of the 1-worker rate. Meant for a many-core machine
# (target: >= 12x at 16 workers); on 2 cores it shows where the curve flattens.
#
#   bench/scaling.sh                      (1, 2, 4 … up to the core count)
#   WORKERS_LIST="1 2 4 8 16" bench/scaling.sh
source "$(dirname "$0")/lib.sh"
need "$PYTHON"
"$BENCH_DIR/corpus.sh" >/dev/null
# Default: powers of two up to the core count (1 2 4 8 16 on 16 cores).
default_list() { local w=1 l=""; while (( w <= $(nproc) )); do l+="$w "; w=$((w * 2)); done; echo "${l:-1}"; }
WORKERS_LIST="${WORKERS_LIST:-$(default_list)}"
work="$(mktemp -d)"
trap 'stop_daemon; rm -rf "$work"' EXIT

# Distinct bytes for every run, so that dedup and the output cache cannot answer.
distinct() {  # distinct <tag> <files…>: copies under $work/<tag>/, printed
  mkdir -p "$work/$1"; local tag="$1" f; shift
  for f in "$@"; do
    local out="$work/$tag/$(basename "$f")"
    cp "$f" "$out"; printf '%% %s\n' "$tag" >> "$out"; echo "$out"
  done
}
pdf="$CACHE_DIR/corpus/doc-50.pdf"
photos=("$CACHE_DIR"/corpus/photo-1080/*.jpg)

printf '%-8s %16s %8s %16s %8s\n' workers "thumbnail img/s" scale "pdf2png pages/s" scale
base_t=""; base_p=""
for w in $WORKERS_LIST; do
  clients=$(( w * 2 > 16 ? w * 2 : 16 ))
  start_daemon "$work/pm-$w" --workers "$w" ${PIXELMILL_FLAGS:-}
  mapfile -t warm < <(distinct "warm-$w" "${photos[@]:0:8}")
  "$LOADGEN" jobs "$BASE" --plugin thumbnail "${warm[@]}" --clients 8 --param size=256 >/dev/null
  mapfile -t in < <(distinct "thumb-$w" "${photos[@]}")
  thumb=$("$LOADGEN" jobs "$BASE" --plugin thumbnail "${in[@]}" --clients "$clients" --param size=256 --unique)
  pdfs=()
  for c in $(seq 1 $(( w > 4 ? w : 4 ))); do
    cp "$pdf" "$work/doc-$w-$c.pdf"; printf '%%%% copy %d %d\n' "$w" "$c" >> "$work/doc-$w-$c.pdf"
    pdfs+=("$work/doc-$w-$c.pdf")
  done
  pages=$("$LOADGEN" jobs "$BASE" --plugin pdf2png "${pdfs[@]}" --clients "${#pdfs[@]}" --param dpi=72)
  stop_daemon
  rm -rf "$work/pm-$w"
  read -r t p < <("$PYTHON" - "$thumb" "$pages" "${#pdfs[@]}" <<'PY'
import json, sys
t, p, n = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
assert t['errors'] == 0 and p['errors'] == 0, (t, p)
print(f"{t['per_second']:.1f} {50 * n / p['seconds']:.1f}")
PY
)
  base_t=${base_t:-$t}; base_p=${base_p:-$p}
  printf '%-8s %16s %7.2fx %16s %7.2fx\n' "$w" "$t" "$("$PYTHON" -c "print($t/$base_t)")" \
    "$p" "$("$PYTHON" -c "print($p/$base_p)")"
done
echo "($(nproc) cores; thumbnail: ${#photos[@]} photos, 16+ clients; pdf2png: max(4, workers) PDFs of 50 pages at once)"
