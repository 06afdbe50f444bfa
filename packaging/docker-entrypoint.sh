#!/bin/sh
# Entry point of the pixelmill image. A container publishes its port, so the
# daemon listens on 0.0.0.0 and needs API tokens: on the first start with no
# token file, this makes one in the data volume with an admin token and
# prints that token once to the log (as Jupyter and Grafana do); later starts
# reuse the file and print nothing.
#
#   PIXELMILL_TOKEN_FILE   where the token file is (default: $PIXELMILL_DATA_DIR/tokens).
#                          An existing file (a mounted secret) is used as is.
#   PIXELMILL_INSECURE     true: no tokens at all (a proxy in front authenticates).
#
# Any command other than `serve` (pixelmill token …, --help) runs unchanged.
set -eu

pixelmill=/usr/bin/pixelmill

if [ "${1:-}" = serve ]; then
  wants_tokens=yes
  case "${PIXELMILL_INSECURE:-}" in true | 1 | yes | on) wants_tokens=no ;; esac
  for arg in "$@"; do
    case "$arg" in --token-file | --token-file=* | --insecure | --insecure=*) wants_tokens=no ;; esac
  done

  if [ "$wants_tokens" = yes ]; then
    token_file="${PIXELMILL_TOKEN_FILE:-${PIXELMILL_DATA_DIR:-/var/lib/pixelmill}/tokens}"
    if [ ! -e "$token_file" ]; then
      # Mode 0600, owned by the user that runs the daemon (the image's USER).
      umask 077
      token="$("$pixelmill" token admin --scopes admin --append "$token_file" 2>/dev/null)" || {
        echo "pixelmill: cannot create the token file $token_file" >&2
        exit 1
      }
      if [ "${PIXELMILL_LOG_FORMAT:-logfmt}" = json ]; then
        printf '{"level":"warn","event":"admin_token_created","token_file":"%s","token":"%s","msg":"shown only this once"}\n' \
          "$token_file" "$token" >&2
      else
        printf 'level=warn event=admin_token_created token_file=%s token=%s msg="shown only this once"\n' \
          "$token_file" "$token" >&2
      fi
    fi
    export PIXELMILL_TOKEN_FILE="$token_file"
  fi
fi

exec "$pixelmill" "$@"
