#!/usr/bin/env bash
# Installs what is missing, builds the release binaries and starts the gateway.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
[ -f build/release/build.ninja ] || meson setup build/release >/dev/null
ninja -C build/release
if [ -x build/release/src/gateway/wsgate ]; then
  echo "wsgate: open http://127.0.0.1:8080/ (Ctrl-C stops it)"
  exec build/release/src/gateway/wsgate --listen 0.0.0.0:8080 --mode echo "$@"
fi
# Until the server exists, the protocol benchmarks are the main program.
exec build/release/bench/proto_bench "$@"
