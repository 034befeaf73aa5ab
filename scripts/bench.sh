#!/usr/bin/env bash
# One command, one run, side by side: the raw TCP echo reference (the kernel's
# loopback limit), wsgate on io_uring and wsgate on epoll, one server at a time,
# each pinned to its own core away from the load generator; then wsgate with
# permessage-deflate on and off. Prints a table and writes JSON, a Markdown table
# and PNG plots. Bounded: the full run takes about 5-9 minutes, --quick about one.
#
# usage: scripts/bench.sh [--quick] [--also ws://127.0.0.1:9001/]... [--text]
#                         [--build-dir DIR] [--out DIR] [--no-memory] [--no-setup]
#                         [--no-deflate]
# BUILD_DIR in the environment sets the default build directory (build/release).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

quick=0 memory=1 setup=1 deflate=1 type_flag=--binary
build_dir=${BUILD_DIR:-build/release}
out=""
also=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --also) also+=("$2"); shift ;;
    --text) type_flag=--text ;;
    --build-dir) build_dir=$2; shift ;;
    --out) out=$2; shift ;;
    --no-memory) memory=0 ;;
    --no-setup) setup=0 ;;
    --no-deflate) deflate=0 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bench: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$quick" = 1 ]; then
  conns=(100 1000); payloads=(16 1024); deep=(1000 16 8)
  duration=1 warmup=0.5 connect_duration=1 idle_sizes=(2000)
else
  conns=(100 1000 10000); payloads=(16 1024 65536); deep=(10000 16 8)
  duration=5 warmup=1 connect_duration=3 idle_sizes=(10000 100000)
fi
# permessage-deflate section: echo with compression on and off against the same
# server, then the memory a connection keeps with compression negotiated.
if [ "$quick" = 1 ]; then
  deflate_conns=200 deflate_payloads=(1024) deflate_mem_conns=1000
else
  deflate_conns=1000 deflate_payloads=(1024 16384) deflate_mem_conns=1000
fi
port_deflate=9305
idle_hold=3
connect_slots=32
port_raw=9301 port_uring=9302 port_epoll=9303 port_mem=9304

[ "$setup" = 1 ] && scripts/setup.sh
if [ ! -f "$build_dir/build.ninja" ]; then
  meson setup "$build_dir" --buildtype=release >/dev/null
fi
ninja -C "$build_dir" -j2 src/gateway/wsgate bench/wsload bench/raw_echo_server >/dev/null
wsgate=$build_dir/src/gateway/wsgate
wsload=$build_dir/bench/wsload
raw_server=$build_dir/bench/raw_echo_server

out=${out:-$build_dir/bench-results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out/json" "$out/logs"
ulimit -n "$(ulimit -Hn)"  # servers and wsload inherit the highest fd limit allowed

# Two cores here: the server gets core 1, wsload core 0. On one core nothing is pinned.
if [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c 1) pin_load=(taskset -c 0)
else
  pin_server=() pin_load=()
fi

server_pid=""
start_server() {  # name port command...
  local name=$1 port=$2; shift 2
  "${pin_server[@]}" "$@" >>"$out/logs/$name.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do
    grep -q "listening on" "$out/logs/$name.log" 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: $name did not start (see $out/logs/$name.log)" >&2
  stop_server
  return 1
}
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do  # wsgate sends close 1001 and waits up to its close timeout
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap stop_server EXIT INT TERM

summary() {  # json file -> one line
  /usr/bin/python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r.get("server") or {}
if r["mode"] == "idle":
    print(f"    {r['peak_up']}/{r['connections']} up, server RSS {s.get('rss_per_connection_up_b', 0):.0f} B/conn, errors {r['errors_total']}")
elif r["mode"] == "connect":
    print(f"    {r['handshakes_per_s']:,.0f} handshakes/s, p99 {r['latency_us']['p99']:.0f} us, errors {r['errors_total']}")
else:
    w = r.get("wire") or {}
    wire = (f"  wire/payload sent {w['sent_wire_fraction']:.3f} echoed {w['recv_wire_fraction']:.3f}"
            if (r.get("deflate") or {}).get("offered") else "")
    print(f"    {r['msg_per_s']:>10,.0f} msg/s  p50 {r['latency_us']['p50']:>8.0f} us  p99 {r['latency_us']['p99']:>8.0f} us"
          f"  server {s.get('cpu_percent_of_core', 0):3.0f}%  wsload {r['cpu']['window_percent_of_core']:3.0f}%  errors {r['errors_total']}{wire}")
PY
}

run_load() {  # name kind url pid extra-args...
  local name=$1 kind=$2 url=$3 pid=$4; shift 4
  local tag
  tag=$(echo "$*" | tr -d ' -' | tr '/' '_')
  local json="$out/json/$name-$kind-$tag.json"
  local pid_args=()
  [ -n "$pid" ] && pid_args=(--server-pid "$pid")
  echo "  $name $kind $*"
  if "${pin_load[@]}" "$wsload" --url "$url" --label "$name/$kind" --json "$json" "${pid_args[@]}" \
      "$@" >>"$out/logs/wsload.txt" 2>>"$out/logs/wsload-progress.log"; then
    summary "$json"
  else
    echo "    wsload failed (see $out/logs/wsload-progress.log)"
    rm -f "$json"
  fi
}

echo_matrix() {  # name url pid [raw]
  local name=$1 url=$2 pid=$3 mode=${4:-echo}
  local c s
  for c in "${conns[@]}"; do
    for s in "${payloads[@]}"; do
      run_load "$name" echo "$url" "$pid" --mode "$mode" -c "$c" -s "$s" -d 1 -t "$duration" \
        --warmup "$warmup" $type_flag --no-progress
    done
  done
  run_load "$name" echo "$url" "$pid" --mode "$mode" -c "${deep[0]}" -s "${deep[1]}" -d "${deep[2]}" \
    -t "$duration" --warmup "$warmup" $type_flag --no-progress
  if [ "$mode" = echo ]; then
    run_load "$name" connect "$url" "$pid" --mode connect -c "$connect_slots" -t "$connect_duration" \
      --warmup 0.5 --no-progress
  fi
}

cut -d' ' -f1-3 /proc/loadavg >"$out/loadavg.txt"
wsgate_flags=(--threads 1 --idle-timeout 120 --max-connections 200000)
echo "bench: results in $out (server on core 1, wsload on core 0; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"

echo "raw TCP echo (reference)"
start_server raw "$port_raw" "$raw_server" --listen "127.0.0.1:$port_raw" --max-seconds 900
echo_matrix raw "tcp://127.0.0.1:$port_raw" "$server_pid" raw
stop_server

echo "wsgate io_uring"
start_server wsgate-uring "$port_uring" "$wsgate" --listen "127.0.0.1:$port_uring" --backend io_uring "${wsgate_flags[@]}"
echo_matrix wsgate-uring "ws://127.0.0.1:$port_uring/" "$server_pid"
stop_server

echo "wsgate epoll"
start_server wsgate-epoll "$port_epoll" "$wsgate" --listen "127.0.0.1:$port_epoll" --backend epoll "${wsgate_flags[@]}"
echo_matrix wsgate-epoll "ws://127.0.0.1:$port_epoll/" "$server_pid"
stop_server

for url in "${also[@]}"; do
  port=${url##*:}; port=${port%%/*}
  # Not ours to pin or stop; its CPU is read if the listening process can be found.
  pid=$(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
  name="also-$port"
  echo "$name ($url${pid:+, pid $pid})"
  echo_matrix "$name" "$url" "$pid"
done

# ---- permessage-deflate (RFC 7692): wsload --deflate against wsgate's deflate flags ----
if [ "$deflate" = 1 ] && "$wsgate" --help 2>&1 | grep -q -- '--deflate '; then
  # wsgate's own deflate defaults (no context takeover either way, level 3, min 128 B).
  echo "wsgate io_uring, permessage-deflate on (wsload offers it or not: compression on/off)"
  start_server wsgate-deflate "$port_deflate" "$wsgate" --listen "127.0.0.1:$port_deflate" \
    --backend io_uring "${wsgate_flags[@]}" --deflate on
  for kind in json random; do
    # JSON-like records go as text (the server validates the inflated UTF-8), random bytes as binary.
    kind_flags=(--payload-kind "$kind" --binary)
    [ "$kind" = json ] && kind_flags=(--payload-kind "$kind" --text)
    for s in "${deflate_payloads[@]}"; do
      for comp in off on; do
        comp_flags=()
        [ "$comp" = on ] && comp_flags=(--deflate)
        run_load wsgate-deflate deflate-echo "ws://127.0.0.1:$port_deflate/" "$server_pid" --mode echo \
          -c "$deflate_conns" -s "$s" -d 1 -t "$duration" --warmup "$warmup" "${kind_flags[@]}" \
          "${comp_flags[@]}" --no-progress
      done
    done
  done
  stop_server
  if [ "$memory" = 1 ]; then
    echo "connections with permessage-deflate: wsgate io_uring memory (fresh server each)"
    # name | wsgate flags | wsload flags. "used": one 1 KiB JSON message echoed per
    # connection, so the server's zlib streams were needed; with context takeover
    # it must keep them (RFC 7692 §7.2.1), without it they go back to its pool.
    msg="--idle-message -s 1024 --payload-kind json --text"
    mem_cases=(
      "plain-used|--deflate on|$msg"
      "negotiated-unused|--deflate on|--deflate"
      "takeover-used|--deflate on --deflate-no-context-takeover none|--deflate $msg"
      "no-takeover-used|--deflate on --deflate-no-context-takeover both|--deflate $msg"
    )
    for c in "${mem_cases[@]}"; do
      IFS='|' read -r name server_flags load_flags <<<"$c"
      # shellcheck disable=SC2086  # the flag strings are word lists on purpose
      start_server "wsgate-deflate-mem-$name" "$port_deflate" "$wsgate" --listen "127.0.0.1:$port_deflate" \
        --backend io_uring --threads 1 --idle-timeout 120 $server_flags
      sleep 0.5  # let start-up allocations settle before the "before" sample
      # shellcheck disable=SC2086
      run_load "$name" deflate-idle "ws://127.0.0.1:$port_deflate/" "$server_pid" --mode idle \
        -c "$deflate_mem_conns" -t 1 --ping-interval 5 --connect-timeout 60 $load_flags --no-progress
      stop_server
    done
  fi
elif [ "$deflate" = 1 ]; then
  echo "permessage-deflate rows skipped: this wsgate has no --deflate flag"
fi

if [ "$memory" = 1 ]; then
  echo "idle connections: wsgate io_uring memory (fresh server for each size)"
  for n in "${idle_sizes[@]}"; do
    mem_flags=(--threads 1)
    # Past one process's fd limit wsgate needs io_uring direct descriptors, whose
    # table per loop is also capped by RLIMIT_NOFILE: one loop per fd-limit's worth.
    if "$wsgate" --help 2>&1 | grep -q -- --direct-descriptors; then
      per_loop=$(( $(ulimit -Hn) - 256 ))
      # Every size gets the loop count of the largest, so per-loop fixed costs
      # (receive buffer pages) cancel in the per-connection slope.
      max_n=${idle_sizes[${#idle_sizes[@]}-1]}
      mem_flags=(--direct-descriptors --threads $(( (max_n + per_loop - 1) / per_loop )))
    elif [ "$n" -ge "$(ulimit -Hn)" ]; then
      echo "    wsgate has no --direct-descriptors: it cannot hold $n connections under fd limit $(ulimit -Hn)"
    fi
    start_server "wsgate-mem-$n" "$port_mem" "$wsgate" --listen "127.0.0.1:$port_mem" --backend io_uring \
      --idle-timeout 120 --max-connections 200000 "${mem_flags[@]}"
    sleep 0.5  # let start-up allocations settle before the "before" sample
    run_load wsgate-uring idle "ws://127.0.0.1:$port_mem/" "$server_pid" --mode idle -c "$n" \
      -t "$idle_hold" --ping-interval 5 --connect-timeout 60 --no-progress
    stop_server
  done
fi

echo " / $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/loadavg.txt"
/usr/bin/python3 scripts/bench_report.py "$out"
