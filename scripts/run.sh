#!/usr/bin/env bash
# Installs what is missing, builds the release binaries and starts the gateway.
#
#   scripts/run.sh [FLAGS...]               pub/sub hub with the chat page on :8080
#   scripts/run.sh --mode echo [FLAGS...]   echo server with its demo page on :8080
#
# Without --mode it starts `--mode pubsub --allow-client-publish --history-size 100
# --api-key KEY`, KEY from $WSGATE_API_KEY or else made up at random and printed;
# FLAGS are added after those. With --mode the FLAGS are passed as they are
# (after --listen 0.0.0.0:8080); with --config FILE nothing is added: the file
# and the FLAGS say it all.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
[ -f build/release/build.ninja ] || meson setup build/release >/dev/null
ninja -C build/release
wsgate=build/release/src/gateway/wsgate
listen=0.0.0.0:8080
for flag in "$@"; do
  if [[ "$flag" =~ ^--config(=.*)?$ ]]; then
    exec "$wsgate" "$@"
  fi
done
for flag in "$@"; do
  if [[ "$flag" =~ ^--mode(=.*)?$ ]]; then
    echo "wsgate: open http://127.0.0.1:8080/ (Ctrl-C stops it)"
    exec "$wsgate" --listen "$listen" "$@"
  fi
done
api_key=${WSGATE_API_KEY:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
echo "wsgate: chat at http://127.0.0.1:8080/ (Ctrl-C stops it)"
echo "wsgate: API key $api_key; publish from a backend with:"
echo "  curl -H 'X-API-Key: $api_key' -d '{\"channel\":\"chat\",\"data\":{\"name\":\"backend\",\"text\":\"hello\"}}' http://127.0.0.1:8080/api/publish"
exec "$wsgate" --listen "$listen" --mode pubsub --allow-client-publish --history-size 100 \
  --api-key "$api_key" "$@"
