#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz) with clang and runs each for
# FUZZ_SECONDS (default 60) from the seed corpora in tests/fuzz/corpus,
# printing the executions per harness. One harness per core runs at a time.
# A crash stops that harness with the input saved under build-fuzz/findings/,
# and the script exits non-zero once the others are done.
#
#   make fuzz [FUZZ_SECONDS=30]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${FUZZ_SECONDS:-60}"
BUILD="${FUZZ_BUILD_DIR:-build-fuzz}"
cmake -S tests/fuzz -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$BUILD" -j"$(nproc)"

declare -A seeds=(
  [multipart_fuzz]=multipart [params_fuzz]=params [page_ranges_fuzz]=page_ranges [sniff_fuzz]=sniff
  [route_scope_fuzz]=route_scope [framing_fuzz]=framing [image_header_fuzz]=image_header
  [plugin_thumbnail_fuzz]=plugin_image [plugin_resize_fuzz]=plugin_image [plugin_ascii_fuzz]=plugin_image
  [plugin_pdf2png_fuzz]=plugin_pdf [plugin_info_fuzz]="plugin_image plugin_pdf plugin_info"
)
mkdir -p "$BUILD/findings"
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1"  # libvips keeps caches alive on purpose
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# One harness per core at a time: each is one process on one thread.
PARALLEL="${FUZZ_PARALLEL:-$(nproc)}"
harnesses=(multipart_fuzz params_fuzz page_ranges_fuzz sniff_fuzz route_scope_fuzz framing_fuzz image_header_fuzz
           plugin_thumbnail_fuzz plugin_resize_fuzz plugin_ascii_fuzz plugin_pdf2png_fuzz plugin_info_fuzz)
run_one() {
  local h=$1 corpus="$BUILD/corpus/$1" log="$BUILD/$1.log"
  mkdir -p "$corpus"
  for seed in ${seeds[$h]}; do  # one or more folders of seeds
    cp -n tests/fuzz/corpus/"$seed"/* "$corpus"/ 2>/dev/null || true
  done
  if "$BUILD/$h" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
       -artifact_prefix="$BUILD/findings/$h-" -print_final_stats=1 "$corpus" >"$log" 2>&1; then
    echo ok >"$BUILD/$h.result"
  else
    echo "FAILED (see $log)" >"$BUILD/$h.result"
  fi
}
rm -f "$BUILD"/*.result
running=0
for h in "${harnesses[@]}"; do
  if ((running >= PARALLEL)); then
    wait -n || true
    running=$((running - 1))
  fi
  run_one "$h" &
  running=$((running + 1))
done
wait

failed=0
printf '%-24s %12s %10s %s\n' harness executions exec/s result
for h in "${harnesses[@]}"; do
  log="$BUILD/$h.log"
  result=$(cat "$BUILD/$h.result" 2>/dev/null || echo "FAILED (no result)")
  [[ $result == ok ]] || failed=1
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  printf '%-24s %12s %10s %s\n' "$h" "$execs" "$rate" "$result"
done
exit "$failed"
