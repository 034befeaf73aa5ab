#!/usr/bin/env bash
# Runs every libFuzzer target for longer than scripts/test.sh does.
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 300)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-300}
bash scripts/setup.sh
if [ ! -f build/fuzz/build.ninja ]; then
  CXX=clang++ meson setup build/fuzz -Dfuzz=true -Dtests=false -Dbenchmarks=false \
    -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized
fi
ninja -C build/fuzz
status=0
for t in build/fuzz/tests/fuzz/fuzz_*; do
  [ -x "$t" ] || continue
  tools/run_fuzzer.sh "$t" "$seconds" || status=1
done
exit $status
