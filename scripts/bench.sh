#!/usr/bin/env bash
# One command, one run, side by side: the raw TCP echo reference (the kernel's
# loopback limit), wsgate on io_uring and wsgate on epoll, pinned to their own
# core away from the load generator; then wsgate with permessage-deflate on and
# off. Each measurement point runs every server in turn, a fresh server for each
# (so the servers of one point see the same moment of a shared machine, and each
# wsgate's --io-stats counters cover that point alone); --repeat N runs each
# point N times, interleaved, and the report gives medians and the spread.
# Prints a table and writes JSON, a Markdown table and PNG plots. Bounded: the
# full run takes about 6-10 minutes per repeat, --quick about one.
#
# usage: scripts/bench.sh [--quick] [--repeat N] [--also ws://127.0.0.1:9001/]... [--text]
#                         [--build-dir DIR] [--out DIR] [--no-memory] [--no-setup]
#                         [--no-deflate] [--pubsub | --pubsub-only] [--proxy] [--tls | --tls-node]
# --pubsub adds the pub/sub fan-out section (scripts/bench_pubsub.sh: raw fan-out
# limit, wsgate --mode pubsub on io_uring and epoll, latency, memory; about 6
# minutes more, 2 with --quick); --pubsub-only runs that section alone.
# --proxy runs the reverse-proxy comparison alone (scripts/bench_proxy.sh: wsgate
# --mode proxy beside nginx and HAProxy; about 8 minutes, 1 with --quick).
# --tls runs the TLS cost comparison alone (scripts/bench_tls.sh: wsload over TLS
# vs plain, echo, handshakes per core, idle bytes; about 3 minutes, 1 with --quick);
# --tls-node the same with Node `ws` and `openssl s_time` as clients
# (scripts/bench_tls.py), a cross-check with other clients.
# BUILD_DIR in the environment sets the default build directory (build/release).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

quick=0 memory=1 setup=1 deflate=1 type_flag=--binary repeat=1 pubsub=0
build_dir=${BUILD_DIR:-build/release}
out=""
also=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --also) also+=("$2"); shift ;;
    --repeat) repeat=$2; shift ;;
    --text) type_flag=--text ;;
    --build-dir) build_dir=$2; shift ;;
    --out) out=$2; shift ;;
    --no-memory) memory=0 ;;
    --no-setup) setup=0 ;;
    --no-deflate) deflate=0 ;;
    --pubsub) pubsub=1 ;;
    --pubsub-only) pubsub=2 ;;
    --proxy) pubsub=3 ;;
    --tls) pubsub=4 ;;
    --tls-node) pubsub=5 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "bench: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

# deep: "connections payload in-flight" points with several messages in flight.
if [ "$quick" = 1 ]; then
  conns=(100 1000); payloads=(16 1024); deep=("1000 16 8")
  duration=1 warmup=0.5 connect_duration=1 idle_sizes=(2000)
else
  conns=(100 1000 10000); payloads=(16 1024 65536); deep=("1000 16 8" "10000 16 8")
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
pubsub_args=(--build-dir "$build_dir")
[ "$quick" = 1 ] && pubsub_args+=(--quick)
[ "$memory" = 0 ] && pubsub_args+=(--no-memory)
if [ "$pubsub" = 4 ]; then
  tls_args=(--build-dir "$build_dir")
  [ "$quick" = 1 ] && tls_args+=(--quick)
  [ -n "$out" ] && tls_args+=(--out "$out")
  exec scripts/bench_tls.sh "${tls_args[@]}"
fi
if [ "$pubsub" = 5 ]; then
  tls_args=()
  [ "$quick" = 1 ] && tls_args+=(--quick)
  exec /usr/bin/python3 scripts/bench_tls.py "$build_dir/src/gateway/wsgate" "${tls_args[@]}"
fi
if [ "$pubsub" = 3 ]; then
  proxy_args=(--build-dir "$build_dir")
  [ "$quick" = 1 ] && proxy_args+=(--quick)
  [ "$memory" = 0 ] && proxy_args+=(--no-memory)
  [ -n "$out" ] && proxy_args+=(--out "$out")
  exec scripts/bench_proxy.sh "${proxy_args[@]}"
fi
if [ "$pubsub" = 2 ]; then
  [ -n "$out" ] && pubsub_args+=(--out "$out")
  exec scripts/bench_pubsub.sh "${pubsub_args[@]}"
fi
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

server_pid="" last_json="" rep=1
start_server() {  # name log command...
  local name=$1 log=$2; shift 2
  "${pin_server[@]}" "$@" >>"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do
    grep -q "listening on" "$log" 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: $name did not start (see $log)" >&2
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
  last_json="$out/json/$name-$kind-$tag-r$rep.json"
  local pid_args=()
  [ -n "$pid" ] && pid_args=(--server-pid "$pid")
  echo "  $name $kind $*"
  if "${pin_load[@]}" "$wsload" --url "$url" --label "$name/$kind" --json "$last_json" "${pid_args[@]}" \
      "$@" >>"$out/logs/wsload.txt" 2>>"$out/logs/wsload-progress.log"; then
    summary "$last_json"
  else
    echo "    wsload failed (see $out/logs/wsload-progress.log)"
    rm -f "$last_json"
    last_json=""
  fi
}

# Adds the last "wsgate: io stats" line of a server log (printed at exit with
# --io-stats) to a wsload report as "server_io": the loop's counters.
attach_io_stats() {  # log json
  [ -n "$2" ] && [ -f "$2" ] || return 0
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, re, sys
lines = [l for l in open(sys.argv[1], errors="replace") if "io stats" in l]
if lines:
    counts = lines[-1].split(":", 2)[2].split(";")[0]
    io = {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", counts)}
    r = json.load(open(sys.argv[2]))
    r["server_io"] = io
    json.dump(r, open(sys.argv[2], "w"))
PY
}

# One measurement point against every server in turn, each a fresh server.
point() {  # kind wsload-args...
  local kind=$1; shift
  local name b url log mode_args port
  for name in raw wsgate-uring wsgate-epoll; do
    if [ "$name" = raw ]; then
      [ "$kind" = echo ] || continue  # the raw echo has no WebSocket handshake
      log="$out/logs/raw-$(echo "$*" | tr -d ' -' | tr '/' '_')-r$rep.log"
      start_server raw "$log" "$raw_server" --listen "127.0.0.1:$port_raw" --max-seconds 900 || continue
      run_load raw echo "tcp://127.0.0.1:$port_raw" "$server_pid" --mode raw "$@"
      stop_server
      continue
    fi
    b=io_uring port=$port_uring
    [ "$name" = wsgate-epoll ] && b=epoll port=$port_epoll
    url="ws://127.0.0.1:$port/"
    log="$out/logs/$name-$kind-$(echo "$*" | tr -d ' -' | tr '/' '_')-r$rep.log"
    start_server "$name" "$log" "$wsgate" --listen "127.0.0.1:$port" --backend "$b" "${wsgate_flags[@]}" \
      || continue
    mode_args=()
    [ "$kind" = echo ] && mode_args=(--mode echo)
    run_load "$name" "$kind" "$url" "$server_pid" "${mode_args[@]}" "$@"
    stop_server
    attach_io_stats "$log" "$last_json"
  done
  for url in "${also[@]}"; do
    port=${url##*:}; port=${port%%/*}
    # Not ours to pin or stop; its CPU is read if the listening process can be found.
    pid=$(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
    run_load "also-$port" "$kind" "$url" "$pid" "$@"
  done
}

cut -d' ' -f1-3 /proc/loadavg >"$out/loadavg.txt"
wsgate_flags=(--threads 1 --idle-timeout 120 --max-connections 200000 --io-stats)
echo "bench: results in $out (server on core 1, wsload on core 0; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"

echo "echo: raw TCP (reference), wsgate io_uring, wsgate epoll${also:+, ${also[*]}} at each point, $repeat time(s)"
for rep in $(seq "$repeat"); do
  for c in "${conns[@]}"; do
    for s in "${payloads[@]}"; do
      point echo -c "$c" -s "$s" -d 1 -t "$duration" --warmup "$warmup" $type_flag --no-progress
    done
  done
  for d in "${deep[@]}"; do
    read -r c s n <<<"$d"
    point echo -c "$c" -s "$s" -d "$n" -t "$duration" --warmup "$warmup" $type_flag --no-progress
  done
  point connect --mode connect -c "$connect_slots" -t "$connect_duration" --warmup 0.5 --no-progress
done
rep=1

# ---- permessage-deflate (RFC 7692): wsload --deflate against wsgate's deflate flags ----
if [ "$deflate" = 1 ] && "$wsgate" --help 2>&1 | grep -q -- '--deflate '; then
  # wsgate's own deflate defaults (no context takeover either way, level 3, min 128 B).
  echo "wsgate io_uring, permessage-deflate on (wsload offers it or not: compression on/off)"
  start_server wsgate-deflate "$out/logs/wsgate-deflate.log" "$wsgate" --listen "127.0.0.1:$port_deflate" \
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
      start_server "wsgate-deflate-mem-$name" "$out/logs/wsgate-deflate-mem-$name.log" "$wsgate" --listen "127.0.0.1:$port_deflate" \
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
    start_server "wsgate-mem-$n" "$out/logs/wsgate-mem-$n.log" "$wsgate" --listen "127.0.0.1:$port_mem" --backend io_uring \
      --idle-timeout 120 --max-connections 200000 "${mem_flags[@]}"
    sleep 0.5  # let start-up allocations settle before the "before" sample
    run_load wsgate-uring idle "ws://127.0.0.1:$port_mem/" "$server_pid" --mode idle -c "$n" \
      -t "$idle_hold" --ping-interval 5 --connect-timeout 60 --no-progress
    stop_server
  done
fi

echo " / $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/loadavg.txt"
/usr/bin/python3 scripts/bench_report.py "$out"
if [ "$pubsub" = 1 ]; then
  stop_server
  scripts/bench_pubsub.sh "${pubsub_args[@]}" --out "$out"
fi
