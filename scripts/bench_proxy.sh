#!/usr/bin/env bash
# Echo through `wsgate --mode proxy` (tunnel) against the same echo server
# directly, side by side in one run: wsload msg/s, and the CPU per message
# of the proxy (through) or of the echo server (direct).
#
#   scripts/bench_proxy.sh [BACKEND] [CONNECTIONS] [SECONDS]
#
# PROXY_FLAGS: extra flags for the proxy (e.g. --zero-copy-min-bytes 1).
# One loop each (--threads 1); the machine's noise applies (compare rows of
# the same run only). Loopback only; every process is stopped by its PID.
set -euo pipefail
backend=${1:-io_uring}
conns=${2:-100}
secs=${3:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build/release/src/gateway/wsgate
load=$root/build/release/bench/wsload
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(port)
px=$(port)
"$bin" --listen "127.0.0.1:$up" --threads 1 --backend "$backend" 2>/dev/null &
pids+=($!); echo_pid=$!
"$bin" --mode proxy --listen "127.0.0.1:$px" --threads 1 --backend "$backend" \
  --upstream "echo=127.0.0.1:$up" --route /=echo ${PROXY_FLAGS:-} 2>/dev/null &
pids+=($!); proxy_pid=$!
sleep 0.5
printf '%-8s %-7s %6s %12s %14s\n' backend path bytes msg/s "cpu us/msg"
for size in 16 1024 65536; do
  for path in direct proxy; do
    if [ "$path" = direct ]; then target=$up; pid=$echo_pid; else target=$px; pid=$proxy_pid; fi
    out=$("$load" --url "ws://127.0.0.1:$target/" --mode echo -c "$conns" -s "$size" -d 1 \
      -t "$secs" --warmup 1 --server-pid "$pid" --no-progress 2>&1)
    rate=$(grep -oE '[0-9.]+ msg/s' <<<"$out" | head -n 1 | cut -d' ' -f1)
    per=$(grep -oE '[0-9.]+ s per million' <<<"$out" | head -n 1 | cut -d' ' -f1)
    printf '%-8s %-7s %6s %12s %14s\n' "$backend" "$path" "$size" "${rate:-?}" "${per:-?}"
  done
done
