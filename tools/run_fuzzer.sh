#!/usr/bin/env bash
# run_fuzzer.sh TARGET SECONDS: runs one libFuzzer target for a bounded time
# from its seed corpus and reports `1 passed, 0 failed` or `0 passed, 1 failed`.
set -u
target=$1; seconds=$2
name=$(basename "$target")
root=$(cd "$(dirname "$0")/.." && pwd)
seeds="$root/tests/fuzz/corpus/$name"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$root/build/logs"
# Crashing inputs land in build/logs; each one found becomes a named regression test.
args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$root/build/logs/$name-")
if [ -d "$seeds" ]; then
  "$target" "${args[@]}" "$work" "$seeds"
else
  "$target" "${args[@]}" "$work"
fi
if [ $? -eq 0 ]; then echo "$name: 1 passed, 0 failed"; else echo "$name: 0 passed, 1 failed"; exit 1; fi
