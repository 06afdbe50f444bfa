#!/usr/bin/env bash
# Every benchmark, one after the other, on a quiet machine: `make bench`.
set -euo pipefail
cd "$(dirname "$0")"
./corpus.sh
./upload_latency.sh
./intake_latency.sh
./thumbnail.sh
./pdf2png.sh
./scaling.sh
./ascii.sh
./rss.sh
./memory_flat.sh
./throughput.sh
./cluster.sh
./dashboard.sh
./recipes.sh
./soak.sh
