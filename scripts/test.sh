#!/usr/bin/env bash
# Installs what is missing, builds, runs every test suite and ends with one
# line `N passed, N failed`. Exits non-zero if anything failed.
#
# Each suite is a program that ends its output with `N passed, N failed`
# (GoogleTest binaries add `, N skipped`); a suite that exits non-zero, or ends
# without such a line, counts as one failure. Skipped cases are summed and
# reported on their own line just before the final one.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

logs="$root/build/logs"
mkdir -p "$logs"
total_passed=0
total_failed=0
total_skipped=0

suite_log() { echo "$logs/${1//\//_}.log"; }

# run_suite NAME CMD...: runs CMD, logs to build/logs/NAME.log, adds its counts.
run_suite() {
  local name=$1; shift
  local start=$SECONDS
  "$@" >"$(suite_log "$name")" 2>&1
  count_suite "$name" $? $((SECONDS - start))
}

# start_suite NAME CMD...: runs CMD in the background as run_suite would;
# finish_suites waits for every suite started so and counts each.
started_names=()
started_pids=()
started_at=()
start_suite() {
  local name=$1; shift
  "$@" >"$(suite_log "$name")" 2>&1 &
  started_names+=("$name")
  started_pids+=($!)
  started_at+=("$SECONDS")
}
finish_suites() {
  local k
  for ((k = 0; k < ${#started_pids[@]}; k++)); do
    wait "${started_pids[k]}"
    count_suite "${started_names[k]}" $? $((SECONDS - started_at[k]))
  done
  started_names=()
  started_pids=()
  started_at=()
}

# count_suite NAME EXIT_STATUS SECONDS: reads NAME's log, adds its counts.
count_suite() {
  local name=$1 rc=$2 secs=$3
  local log
  log=$(suite_log "$name")
  local line p f s
  line=$(grep -E '^([A-Za-z0-9_.-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    p=$(sed -E 's/^([A-Za-z0-9_.-]+: )?([0-9]+) passed.*/\2/' <<<"$line")
    f=$(sed -E 's/^([A-Za-z0-9_.-]+: )?[0-9]+ passed, ([0-9]+) failed.*/\2/' <<<"$line")
    s=$(sed -nE 's/^([A-Za-z0-9_.-]+: )?[0-9]+ passed, [0-9]+ failed, ([0-9]+) skipped.*/\2/p' <<<"$line")
    s=${s:-0}
  else
    # A suite that does not say what it ran counts as a failure.
    p=0; f=1; s=0
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
  total_skipped=$((total_skipped + s))
  printf '%-40s %5d passed %3d failed  %4ds%s%s\n' "$name" "$p" "$f" "$secs" \
    "$([ "$s" -ne 0 ] && echo "   ($s skipped)")" "$([ "$f" -ne 0 ] && echo "   <- see $log")"
  if [ "$f" -ne 0 ]; then tail -n 30 "$log" | sed 's/^/    /'; fi
}

# build DIR [meson options...]: configures once, then compiles.
build() {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$logs/$(basename "$dir")-setup.log" 2>&1 || return 1
  fi
  ninja -C "$dir" >"$logs/$(basename "$dir")-build.log" 2>&1
}

run_suite "style/clang-format" tools/check_format.sh

# Release build with warnings as errors: the build the benchmarks and real peers use.
if ! build build/release -Dwerror=true; then
  tail -n 40 "$logs/release-build.log" "$logs/release-setup.log" 2>/dev/null
  echo "0 passed, 1 failed"; exit 1
fi
for t in build/release/tests/test_*; do
  [ -f "$t" ] && [ -x "$t" ] && run_suite "unit/$(basename "$t")" "$t"
done

# The same unit tests under AddressSanitizer and UndefinedBehaviorSanitizer.
if build build/asan -Dbuildtype=debugoptimized -Db_sanitize=address,undefined \
     -Db_lundef=false -Dbenchmarks=false -Dwerror=true; then
  for t in build/asan/tests/test_*; do
    [ -f "$t" ] && [ -x "$t" ] && UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      run_suite "asan/$(basename "$t")" "$t"
  done
  # The server itself under the sanitizers (built without mimalloc, so they see
  # every allocation), against the fast real-peer suites on the primary backend
  # (echo, and the pub/sub hub with its cross-loop requests);
  # a sanitizer report kills the server, which the suite counts as a failure,
  # and LeakSanitizer makes the final SIGTERM exit non-zero. metrics: the
  # admin thread scraping every loop's counters while they run, and its stop.
  run_suite "asan/allocator" tools/check_sanitizer_allocator.sh build/asan/src/gateway/wsgate
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 run_suite "asan/peers/io_uring" \
    tests/peers/run_peers.sh build/asan/src/gateway/wsgate io_uring \
    violations conformance concurrency deflate_conformance \
    pubsub_protocol pubsub_api pubsub_sdk pubsub_ordering wsload_pubsub metrics
else
  run_suite "asan/build" sh -c "tail -n 40 \"$logs/asan-build.log\"; false"
fi

# libFuzzer targets, each for a short bounded time (scripts/fuzz.sh runs them
# longer). Only the targets are built: the gateway is not fuzzed.
build_fuzzers() {
  if [ ! -f build/fuzz/build.ninja ]; then
    CXX=clang++ meson setup build/fuzz -Dfuzz=true -Dtests=false -Dbenchmarks=false \
      -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized \
      >"$logs/fuzz-setup.log" 2>&1 || return 1
  fi
  local targets
  targets=$(ninja -C build/fuzz -t targets all | sed -nE 's#^(tests/fuzz/fuzz_[a-z0-9_]+): .*#\1#p')
  [ -n "$targets" ] || return 1
  # shellcheck disable=SC2086
  ninja -C build/fuzz $targets >"$logs/fuzz-build.log" 2>&1
}
if build_fuzzers; then
  fuzzers=()
  for t in build/fuzz/tests/fuzz/fuzz_*; do
    [ -f "$t" ] && [ -x "$t" ] && fuzzers+=("$t")
  done
  # Two at a time: each target is one process, the machine has two cores.
  for ((k = 0; k < ${#fuzzers[@]}; k++)); do
    start_suite "fuzz/$(basename "${fuzzers[k]}")" tools/run_fuzzer.sh "${fuzzers[k]}" 20
    if ((k % 2 == 1)); then finish_suites; fi
  done
  finish_suites
else
  run_suite "fuzz/build" sh -c "tail -n 40 \"$logs/fuzz-build.log\"; false"
fi

# Integration suites with real peers run here, against each backend.
# (added by the server and peer-test work)
# Real peers (python3-websockets, Node ws, headless Chromium, tshark, raw-socket
# violation/conformance/concurrency/timeout suites) against the release binary.
# The two backends' runs go side by side: their suites mostly wait on
# peers and timers, every server takes a port of its own, and each run alone
# takes minutes.
if [ -x build/release/src/gateway/wsgate ]; then
  start_suite "peers/io_uring" tests/peers/run_peers.sh build/release/src/gateway/wsgate io_uring
  start_suite "peers/epoll" tests/peers/run_peers.sh build/release/src/gateway/wsgate epoll
  finish_suites
else
  run_suite "peers/build" false
fi

echo "$total_skipped skipped (counted in neither passed nor failed)"
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
