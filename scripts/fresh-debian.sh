#!/usr/bin/env bash
# The README's promise, checked the way a new contributor meets it: a fresh
# Debian 12 root holding only git, make and ca-certificates, a clone of this
# repository's committed HEAD, and `make test` (or COMMAND) run in it through
# chroot. Prints the tail of the output and the exit code, and exits with it.
#
#   scripts/fresh-debian.sh                  make test
#   scripts/fresh-debian.sh 'make build'     any command, run by bash in the clone
#
# Needs root (chroot, mounts) and mmdebstrap; takes ~25 minutes for make test.
# The root is built once with mmdebstrap and cached as a tarball in
# $PIXELMILL_FRESH_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/pixelmill-fresh-debian);
# every run unpacks it anew, and the full output stays in logs/ there.
# PIXELMILL_FRESH_KEEP=1 keeps the run's root afterwards.
#
# From the host, and nothing else, so that the archive and the registries are
# reached as the host reaches them: Debian's sources (sources.list,
# sources.list.d/debian.*), apt's proxy and date-check settings, the proxy
# variables, the CA certificates, npm's configuration (user and global files,
# npm_config_* variables, the cafile), and name resolution (resolv.conf, hosts).
# Uncommitted changes are not part of the check.
set -euo pipefail

# All in one function, read whole before it runs: editing or checking out
# this file during the run changes nothing in it.
main() {
  suite=bookworm
  packages=git,make,ca-certificates

  if [[ "$(id -u)" -ne 0 ]]; then
    echo "fresh-debian: needs root (chroot and mounts); try sudo $0" >&2
    exit 2
  fi
  if ! command -v mmdebstrap >/dev/null; then
    echo "fresh-debian: installing mmdebstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap
  fi

  repo="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
  commit="$(git -C "$repo" rev-parse HEAD)"
  command="${*:-make test}"
  if [[ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]]; then
    echo "fresh-debian: uncommitted changes are left out; checking ${commit:0:12}" >&2
  fi

  cache="${PIXELMILL_FRESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pixelmill-fresh-debian}"
  mkdir -p "$cache/logs" "$cache/runs"
  scratch="$(mktemp -d)"

  # --- the host's way to the archive -------------------------------------------

  sources=()
  if grep -q '^[[:space:]]*deb' /etc/apt/sources.list 2>/dev/null; then
    sources+=(/etc/apt/sources.list)
  fi
  for f in /etc/apt/sources.list.d/debian.list /etc/apt/sources.list.d/debian.sources; do
    [[ -s "$f" ]] && sources+=("$f")
  done
  # Proxies and the date checks (a snapshot mirror serves expired Release files),
  # as apt resolves them from apt.conf and apt.conf.d.
  apt-config dump | grep -E '^Acquire::([^ ]*::)?(Proxy|Check-Valid-Until|Check-Date)(::[^ ]*)? ' \
    > "$scratch/apt.conf" || true

  proxy_env=()
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [[ -n "${!v:-}" ]] && proxy_env+=("$v=${!v}")
  done

  # --- the cached root -----------------------------------------------------------

  key="$({ echo "$suite minbase $packages"; cat "${sources[@]}" "$scratch/apt.conf" 2>/dev/null; } |
          sha256sum | cut -c1-12)"
  tarball="$cache/$suite-$key.tar"
  if [[ ! -f "$tarball" ]]; then
    echo "fresh-debian: building the $suite root ($packages) with mmdebstrap"
    aptopt=()
    [[ -s "$scratch/apt.conf" ]] && aptopt=(--aptopt="$scratch/apt.conf")
    env "${proxy_env[@]}" mmdebstrap --quiet --format=tar --variant=minbase --include="$packages" "${aptopt[@]}" \
      "$suite" "$tarball.part" "${sources[@]}" </dev/null
    mv "$tarball.part" "$tarball"
  fi

  run="$(date -u +%Y%m%dT%H%M%SZ)-${commit:0:12}"
  root="$cache/runs/$run"
  log="$cache/logs/$run.log"

  # shellcheck disable=SC2317  # called through the trap
  cleanup() {
    local proc m
    # Whatever the command left running in the root (daemons, PostgreSQL).
    for proc in /proc/[0-9]*; do
      [[ "$(readlink "$proc/root" 2>/dev/null)" == "$root" ]] && kill -9 "${proc#/proc/}" 2>/dev/null
    done
    for m in dev/shm dev sys proc; do
      if mountpoint -q "$root/$m" 2>/dev/null; then
        umount -R "$root/$m" 2>/dev/null || umount -R -l "$root/$m"
      fi
    done
    if [[ "${PIXELMILL_FRESH_KEEP:-0}" == 1 ]]; then
      echo "fresh-debian: the root is kept in $root"
    elif [[ -d "$root" ]] && ! grep -q " $root/" /proc/mounts; then
      rm -rf --one-file-system "$root"
    fi
    rm -rf "$scratch"
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM

  mkdir "$root"
  tar -C "$root" --numeric-owner -xpf "$tarball"

  # --- what the host carries in ------------------------------------------------

  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  cp -L /etc/hosts "$root/etc/hosts"

  # The host's CA certificates that Debian's bundle lacks (a TLS proxy's, a
  # local CA), one file each, so that update-ca-certificates (run again by later
  # package installs) keeps them.
  bundle=/etc/ssl/certs/ca-certificates.crt
  if [[ -s "$bundle" ]]; then
    mkdir -p "$root/usr/local/share/ca-certificates/host"
    awk -v dir="$root/usr/local/share/ca-certificates/host" '
      /-----BEGIN CERTIFICATE-----/ { pem = "" }
      { pem = pem $0 "\n" }
      /-----END CERTIFICATE-----/ {
        if (FILENAME == ARGV[1]) known[pem] = 1
        else if (!(pem in known)) { file = sprintf("%s/%04d.crt", dir, ++n); printf "%s", pem > file; close(file) }
      }' "$root$bundle" "$bundle"
  fi

  # npm: the user and global files (Debian's npm reads /etc/npmrc) and the cafile.
  npm_env=()
  for v in $(compgen -e | grep -i '^npm_config_' || true); do
    npm_env+=("$v=${!v}")
  done
  if command -v npm >/dev/null; then
    userconfig="$(npm config get userconfig 2>/dev/null || true)"
    globalconfig="$(npm config get globalconfig 2>/dev/null || true)"
    cafile="$(npm config get cafile 2>/dev/null || true)"
  else
    userconfig="$HOME/.npmrc" globalconfig=/etc/npmrc cafile=""
  fi
  [[ -f "$userconfig" ]] && cp -L "$userconfig" "$root/root/.npmrc"
  [[ -f "$globalconfig" ]] && cp -L "$globalconfig" "$root/etc/npmrc"

  mount -t proc proc "$root/proc"
  mount -t sysfs sysfs "$root/sys"
  mount --rbind /dev "$root/dev"
  mount --make-rslave "$root/dev"
  mount -t tmpfs -o mode=1777 shm "$root/dev/shm"

  chroot "$root" update-ca-certificates >/dev/null
  if [[ "$cafile" == /* && -f "$cafile" && ! -e "$root$cafile" ]]; then
    mkdir -p "$root$(dirname "$cafile")"
    cp -L "$cafile" "$root$cafile"
  fi

  git init -q "$root/root/pixelmill"
  git -C "$root/root/pixelmill" fetch -q "$repo" HEAD
  git -C "$root/root/pixelmill" checkout -q -b main FETCH_HEAD
  if [[ "$(git -C "$root/root/pixelmill" rev-parse HEAD)" != "$commit" ]]; then
    echo "fresh-debian: HEAD moved while cloning; run again" >&2
    exit 2
  fi

  # --- the command ---------------------------------------------------------------

  echo "fresh-debian: $command in $suite at ${commit:0:12}; output in $log"
  start=$SECONDS
  set +e
  # shellcheck disable=SC2016  # $1 is expanded by the shell in the root
  chroot "$root" /usr/bin/env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/bash LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${proxy_env[@]}" "${npm_env[@]}" \
    /bin/bash -c 'cd /root/pixelmill && eval "$1"' fresh-debian "$command" </dev/null >"$log" 2>&1
  rc=$?
  set -e
  tail -n 40 "$log"
  echo "fresh-debian: '$command' exited $rc after $(((SECONDS - start) / 60))m$(((SECONDS - start) % 60))s (Debian $(cat "$root/etc/debian_version"), ${commit:0:12})"
  exit $rc
}

main "$@"
