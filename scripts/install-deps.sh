#!/usr/bin/env bash
# Installs, from Debian 12's archive, exactly the packages pixelmill needs
# that are not installed yet. Idempotent: a second run installs nothing.
# No prompts; as root it calls apt-get directly, otherwise through sudo.
#
#   scripts/install-deps.sh          what building and running needs
#   scripts/install-deps.sh --test   plus what the test suite uses (clang: fuzzing)
#   scripts/install-deps.sh --bench  plus the tools the benchmarks compare against
#   scripts/install-deps.sh --package  plus what the package tests use (Debian
#                                      root, namespaces, compose validation)
set -euo pipefail

build_packages=(
  build-essential cmake pkg-config git
  libpistache-dev libboost-filesystem-dev libvips-dev libpoppler-cpp-dev libsqlite3-dev
  nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libspdlog-dev libssl-dev
  libcurl4-openssl-dev libjpeg62-turbo-dev libpng-dev prometheus-cpp-dev catch2
  libkainjow-mustache-dev libpq-dev
  dpkg-dev file
)
test_packages=(
  curl libvips-tools poppler-utils python3 python3-aiosmtpd prometheus
  chromium nodejs npm
  clang libclang-rt-14-dev
  postgresql
)
package_packages=(
  mmdebstrap util-linux iproute2 curl python3 docker-compose
)
bench_packages=(
  curl libvips-tools poppler-utils jp2a iproute2
  python3 python3-fastapi python3-uvicorn python3-pil python3-multipart
  postgresql
)

want=("${build_packages[@]}")
case "${1:-}" in
  --test) want+=("${test_packages[@]}") ;;
  --bench) want+=("${bench_packages[@]}") ;;
  --package) want+=("${package_packages[@]}") ;;
  "") ;;
  *) echo "usage: $0 [--test|--bench|--package]" >&2; exit 2 ;;
esac

# The test suite's node modules (--test), each folder's when missing or older
# than its lock file: the dashboard's browser tests, the OpenAPI linter.
node_modules() {
  local root dir
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  [[ "${1:-}" == --test ]] && command -v npm >/dev/null || return 0
  for dir in "$root/tests/browser" "$root/tests/openapi"; do
    if [[ ! -d "$dir/node_modules" ]] || [[ "$dir/package-lock.json" -nt "$dir/node_modules" ]]; then
      echo "install-deps: npm ci --prefix ${dir#"$root"/}"
      npm ci --prefix "$dir" --no-audit --no-fund && touch "$dir/node_modules"
    fi
  done
}

missing=()
for p in "${want[@]}"; do
  # Node.js from another source (NodeSource) ships npm itself.
  [[ "$p" == npm ]] && command -v npm >/dev/null && continue
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#want[@]} packages are installed"
  node_modules "${1:-}"
  exit 0
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo -n)
fi
export DEBIAN_FRONTEND=noninteractive

# The package lists are needed when any missing package is unknown to apt
# (a fresh machine has none).
needs_update=0
for p in "${missing[@]}"; do
  if ! apt-cache show "$p" >/dev/null 2>&1; then
    needs_update=1
    break
  fi
done
if [[ $needs_update -eq 1 ]]; then
  echo "install-deps: apt-get update"
  "${sudo[@]}" apt-get update -q
fi

# The tests and benchmarks start their own PostgreSQL in a temp folder: no
# system-wide cluster (and no server on port 5432) is created for them.
if [[ " ${missing[*]} " == *" postgresql "* && ! -e /etc/postgresql-common/createcluster.conf ]]; then
  "${sudo[@]}" mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | "${sudo[@]}" tee /etc/postgresql-common/createcluster.d/pixelmill.conf >/dev/null
fi

echo "install-deps: installing ${missing[*]}"
if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  # Stale lists: refresh once and try again.
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
node_modules "${1:-}"
