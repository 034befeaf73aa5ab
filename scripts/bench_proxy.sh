#!/usr/bin/env bash
# Reverse proxies side by side in one run: wsgate --mode proxy (tunnel, on
# io_uring and epoll; `frames` too when this wsgate has relay=frames), Debian's
# nginx (one worker) and Debian's HAProxy (one thread), all in front of the
# same upstream echo server (wsgate echo), plus that server directly.
#  - echo: wsload echo through each proxy, 1 in flight per connection, every
#    byte verified; msg/s and the proxy's CPU per message (its CPU time from
#    /proc over the measured window / messages echoed).
#  - memory: idle proxied connections (both sides); the proxy's RSS all up
#    minus before, per connection (summed over its processes).
#  - setup: connections per second through the proxy (client handshake,
#    upstream connect, upstream handshake, close).
# Pinning: the proxy on core 1 alone; wsload and the upstream on core 0 (each
# proxy the same way). nginx and HAProxy are never started as services: they
# run here from configs generated under the output directory, on loopback
# ports, and are stopped by PID. Loopback only; every load loop is bounded.
#
# usage: scripts/bench_proxy.sh [--quick] [--out DIR] [--build-dir DIR]
#                               [--no-memory] [--no-echo] [--no-setup-rate] [--big N]
# --big N: the large memory point (default 100000); 0 skips it.
#
# One process may hold 20 000 descriptors here (RLIMIT_NOFILE hard limit) and
# a proxied connection needs two, so a one-process proxy holds at most ~9 990:
# the "10 000" points run 9 800 connections. At the large memory point wsgate
# is one process with --direct-descriptors (io_uring file tables, a loop per
# ~9 800 proxied connections), nginx and HAProxy several processes on one
# port (SO_REUSEPORT): nginx worker_processes with `reuseport`, HAProxy as
# that many instances (HAProxy 2.6 has no multi-process mode).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
quick=0 memory=1 echo_runs=1 setup_rate=1 big=100000
build_dir=${BUILD_DIR:-build/release}
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=$2; shift ;;
    --build-dir) build_dir=$2; shift ;;
    --no-memory) memory=0 ;;
    --no-echo) echo_runs=0 ;;
    --no-setup-rate) setup_rate=0 ;;
    --big) big=$2; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "bench_proxy: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$quick" = 1 ]; then
  points=("200 16" "200 1024" "100 65536"); duration=1 warmup=0.5 mem_sizes=(2000) big=0 setup_secs=1
else
  points=("1000 16" "1000 1024" "9800 16" "9800 1024" "1000 65536")
  duration=5 warmup=1 mem_sizes=(9800) setup_secs=3
fi
[ "$big" -gt 0 ] && mem_sizes+=("$big")

for tool in nginx haproxy; do
  command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin
  command -v "$tool" >/dev/null || { echo "bench_proxy: $tool is not installed (scripts/setup.sh)" >&2; exit 1; }
done
ninja -C "$build_dir" -j2 src/gateway/wsgate bench/wsload >/dev/null
wsgate=$build_dir/src/gateway/wsgate
wsload=$build_dir/bench/wsload
out=${out:-$build_dir/bench-results/proxy-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out/json" "$out/logs" "$out/conf"
out=$(cd "$out" && pwd)
ulimit -n "$(ulimit -Hn)"
fd_limit=$(ulimit -Hn)

if [ "$(nproc)" -ge 2 ]; then
  pin_proxy=(taskset -c 1) pin_rest=(taskset -c 0)
else
  pin_proxy=() pin_rest=()
fi

# Ports: the upstream listens on several, the proxy on one. A proxy reaches
# each upstream port from one source address, and connect(2) found only
# ~14 100 ephemeral ports per destination here (half of 32768-60999: its
# even-port half); near that each connect scans the range and slows to the
# point where handshakes time out. With 6 ports every proxy stopped at
# ~85 000 (6 x 14 116); 12 ports leave room for 100 000.
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up_ports=()
for _ in $(seq 12); do up_ports+=("$(free_port)"); done
px_port=$(free_port)

pids=()  # every process this script started and has not stopped yet
stop_pid() {  # pid: TERM, then KILL after 10 s
  local p=$1
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  local keep=() q
  for q in "${pids[@]}"; do [ "$q" != "$p" ] && keep+=("$q"); done
  pids=("${keep[@]}")
}
cleanup() { local p; for p in "${pids[@]}"; do stop_pid "$p"; done; }
trap cleanup EXIT INT TERM

wait_listening() {  # port pid log
  for _ in $(seq 100); do
    ss -ltnH "sport = :$1" 2>/dev/null | grep -q . && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench_proxy: nothing listens on $1 (see $3)" >&2
  return 1
}

# ---- the upstream: wsgate echo on core 0 ----
upstream_pid=""
start_upstream() {  # threads extra-flags...
  local threads=$1; shift
  local listen=() p
  for p in "${up_ports[@]}"; do listen+=(--listen "127.0.0.1:$p"); done
  "${pin_rest[@]}" "$wsgate" "${listen[@]}" --threads "$threads" --backend io_uring \
    --max-connections 400000 --idle-timeout 600 --handshake-timeout 60 "$@" >>"$out/logs/upstream.log" 2>&1 &
  upstream_pid=$!
  pids+=("$upstream_pid")
  wait_listening "${up_ports[0]}" "$upstream_pid" "$out/logs/upstream.log"
}

# ---- the proxies ----
# Each start_* sets proxy_pid (the process to stop) and proxy_cpu_pids (the
# processes whose CPU and memory count: nginx's and wsgate's workers, not a
# master that only waits).
proxy_pid="" proxy_cpu_pids=()
frames_ok=0
"$wsgate" check-config /dev/null --mode proxy --upstream "e=127.0.0.1:1" --route "/=e,relay=frames" \
  >/dev/null 2>&1 && frames_ok=1

start_wsgate() {  # backend relay processes
  local backend=$1 relay=$2 procs=$3 route="/=echo" upstreams=() p
  [ "$relay" = frames ] && route="/=echo,relay=frames"
  for p in "${up_ports[@]}"; do upstreams+=(--upstream "echo=127.0.0.1:$p"); done
  local log=$out/logs/wsgate-$backend-$relay.log
  local many=()
  # Past one process's descriptors: one process, a loop (and file table) per share.
  [ "$procs" -gt 1 ] && many=(--direct-descriptors --threads "$procs")
  [ "$procs" -gt 1 ] || many=(--threads 1)
  "${pin_proxy[@]}" "$wsgate" --mode proxy --listen "127.0.0.1:$px_port" "${many[@]}" \
    --backend "$backend" "${upstreams[@]}" --route "$route" --max-connections 400000 \
    --idle-timeout 600 --handshake-timeout 60 >>"$log" 2>&1 &
  proxy_pid=$!
  pids+=("$proxy_pid")
  wait_listening "$px_port" "$proxy_pid" "$log" || return 1
  proxy_cpu_pids=("$proxy_pid")
}

write_nginx_conf() {  # workers
  local workers=$1 dir=$out/conf/nginx reuse="" p
  mkdir -p "$dir/tmp"
  [ "$workers" -gt 1 ] && reuse=" reuseport"
  {
    echo "daemon off;"
    [ "$workers" = 1 ] && echo "master_process off;"
    echo "user root;"
    echo "worker_processes $workers;"
    echo "worker_rlimit_nofile $fd_limit;"
    echo "pid $dir/nginx.pid;"
    echo "error_log $out/logs/nginx-error.log error;"
    echo "events { worker_connections $((fd_limit - 100)); }"
    echo "http {"
    echo "  access_log off;"
    for t in client_body proxy fastcgi uwsgi scgi; do echo "  ${t}_temp_path $dir/tmp/$t;"; done
    # As nginx.org/en/docs/http/websocket.html: HTTP/1.1 to the upstream and
    # the hop-by-hop Upgrade/Connection headers passed on explicitly.
    echo "  map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }"
    echo "  upstream echo {"
    for p in "${up_ports[@]}"; do echo "    server 127.0.0.1:$p;"; done
    echo "  }"
    echo "  server {"
    echo "    listen 127.0.0.1:$px_port backlog=4096$reuse;"
    echo "    location / {"
    echo "      proxy_pass http://echo;"
    echo "      proxy_http_version 1.1;"
    echo "      proxy_set_header Upgrade \$http_upgrade;"
    echo "      proxy_set_header Connection \$connection_upgrade;"
    echo "      proxy_set_header Host \$host;"
    echo "      proxy_buffering off;"
    echo "      proxy_read_timeout 600s;"
    echo "      proxy_send_timeout 600s;"
    echo "    }"
    echo "  }"
    echo "}"
  } >"$dir/nginx.conf"
}
start_nginx() {  # workers
  write_nginx_conf "$1"
  "${pin_proxy[@]}" nginx -p "$out/conf/nginx" -c "$out/conf/nginx/nginx.conf" -e "$out/logs/nginx-error.log" \
    >>"$out/logs/nginx.log" 2>&1 &
  proxy_pid=$!
  pids+=("$proxy_pid")
  wait_listening "$px_port" "$proxy_pid" "$out/logs/nginx-error.log" || return 1
  proxy_cpu_pids=("$proxy_pid")
  if [ "$1" -gt 1 ]; then
    sleep 0.3
    mapfile -t proxy_cpu_pids < <(pgrep -P "$proxy_pid")
  fi
}

write_haproxy_conf() {  # file
  local p i=0
  {
    echo "global"
    echo "  nbthread 1"
    echo "  maxconn $(((fd_limit - 100) / 2))"
    echo "defaults"
    echo "  mode http"
    echo "  timeout connect 5s"
    echo "  timeout client 600s"
    echo "  timeout server 600s"
    # After the upgrade HAProxy applies `timeout tunnel` (docs: "timeout tunnel").
    echo "  timeout tunnel 1h"
    echo "frontend fe"
    echo "  bind 127.0.0.1:$px_port"
    echo "  default_backend echo"
    echo "backend echo"
    echo "  balance roundrobin"
    for p in "${up_ports[@]}"; do echo "  server u$i 127.0.0.1:$p"; i=$((i + 1)); done
  } >"$1"
}
haproxy_extra=()  # more instances for the large memory point
start_haproxy() {  # instances
  local n=$1 k
  write_haproxy_conf "$out/conf/haproxy.cfg"
  "${pin_proxy[@]}" haproxy -db -f "$out/conf/haproxy.cfg" >>"$out/logs/haproxy.log" 2>&1 &
  proxy_pid=$!
  pids+=("$proxy_pid")
  wait_listening "$px_port" "$proxy_pid" "$out/logs/haproxy.log" || return 1
  proxy_cpu_pids=("$proxy_pid")
  haproxy_extra=()
  # HAProxy binds its listeners with SO_REUSEPORT: more instances share the port.
  for k in $(seq 2 "$n"); do
    "${pin_proxy[@]}" haproxy -db -f "$out/conf/haproxy.cfg" >>"$out/logs/haproxy.log" 2>&1 &
    pids+=("$!"); haproxy_extra+=("$!"); proxy_cpu_pids+=("$!")
  done
  [ "$n" -gt 1 ] && sleep 0.5
  return 0
}

start_proxy() {  # name processes
  case "$1" in
    wsgate-uring) start_wsgate io_uring tunnel "$2" ;;
    wsgate-epoll) start_wsgate epoll tunnel "$2" ;;
    wsgate-frames) start_wsgate io_uring frames "$2" ;;
    nginx) start_nginx "$2" ;;
    haproxy) start_haproxy "$2" ;;
  esac
}
stop_proxy() {
  local p
  for p in "${haproxy_extra[@]}"; do stop_pid "$p"; done
  haproxy_extra=()
  [ -n "$proxy_pid" ] && stop_pid "$proxy_pid"
  # Workers of a master stopped the hard way (KILL after 10 s) would linger.
  for p in "${proxy_cpu_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  proxy_pid="" proxy_cpu_pids=()
  # The next proxy binds the same port: wait until this one's listener is gone.
  for _ in $(seq 50); do ss -ltnH "sport = :$px_port" 2>/dev/null | grep -q . || break; sleep 0.1; done
}

proxies=(wsgate-uring wsgate-epoll)
[ "$frames_ok" = 1 ] && proxies+=(wsgate-frames)
proxies+=(nginx haproxy)

rss_kb() {  # pids... -> VmRSS summed (kB)
  local t=0 p v
  for p in "$@"; do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

record() {  # json-file key=value... : adds fields to a wsload JSON report
  /usr/bin/python3 - "$@" <<'PY'
import json, sys
path = sys.argv[1]
r = json.load(open(path))
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    try:
        v = float(v)
    except ValueError:
        pass
    r[k] = v
json.dump(r, open(path, "w"), indent=1)
PY
}

load() {  # json label pid-or-empty wsload-args...
  local json=$1 label=$2 pid=$3; shift 3
  local pid_args=()
  [ -n "$pid" ] && pid_args=(--server-pid "$pid")
  if "${pin_rest[@]}" "$wsload" --label "$label" --json "$json" "${pid_args[@]}" --no-progress "$@" \
      >>"$out/logs/wsload.txt" 2>>"$out/logs/wsload-stderr.txt"; then
    return 0
  fi
  echo "    wsload failed for $label (see $out/logs/wsload-stderr.txt)"
  [ -f "$json" ] && record "$json" failed=1
  return 0
}

line() {  # json -> one summary line
  /usr/bin/python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r.get("server") or {}
if r["mode"] == "connect":
    print(f"    {r['label']:<14} {r['handshakes_per_s']:>10,.0f} connections/s  errors {r['errors_total']}")
else:
    per = s.get("cpu_s_per_million_messages", 0)
    print(f"    {r['label']:<14} {r['msg_per_s']:>10,.0f} msg/s  {per:7.2f} us CPU/msg"
          f"  ({s.get('cpu_percent_of_core', 0):.0f}% of a core)  errors {r['errors_total']}")
PY
}

echo "bench_proxy: results in $out; proxies on core 1, wsload and upstream on core 0;" \
  "load $(cut -d' ' -f1-3 /proc/loadavg); proxies: ${proxies[*]}"
cut -d' ' -f1-3 /proc/loadavg >"$out/loadavg.txt"

if [ "$echo_runs" = 1 ] || [ "$setup_rate" = 1 ]; then
  start_upstream 1
  if [ "$echo_runs" = 1 ]; then
    for pt in "${points[@]}"; do
      read -r c s <<<"$pt"
      echo "echo: $c connections x $s B"
      args=(--mode echo -c "$c" -s "$s" -d 1 -t "$duration" --warmup "$warmup" --binary --connect-timeout 60)
      j=$out/json/echo-direct-$c-$s.json
      load "$j" direct "$upstream_pid" --url "ws://127.0.0.1:${up_ports[0]}/" "${args[@]}"
      [ -f "$j" ] && line "$j"
      for name in "${proxies[@]}"; do
        start_proxy "$name" 1 || { stop_proxy; continue; }
        j=$out/json/echo-$name-$c-$s.json
        load "$j" "$name" "$proxy_pid" --url "ws://127.0.0.1:$px_port/" "${args[@]}"
        stop_proxy
        [ -f "$j" ] && line "$j"
      done
    done
  fi
  if [ "$setup_rate" = 1 ]; then
    echo "connection setup: 32 at a time, each a fresh connection (handshake, close)"
    args=(--mode connect -c 32 -t "$setup_secs" --warmup 0.5)
    j=$out/json/connect-direct.json
    load "$j" direct "$upstream_pid" --url "ws://127.0.0.1:${up_ports[0]}/" "${args[@]}"
    [ -f "$j" ] && line "$j"
    for name in "${proxies[@]}"; do
      start_proxy "$name" 1 || { stop_proxy; continue; }
      j=$out/json/connect-$name.json
      load "$j" "$name" "$proxy_pid" --url "ws://127.0.0.1:$px_port/" "${args[@]}"
      stop_proxy
      [ -f "$j" ] && line "$j"
    done
  fi
  stop_pid "$upstream_pid"
fi

if [ "$memory" = 1 ]; then
  # Past one process's descriptors the upstream needs io_uring direct
  # descriptors (a fixed-file table per loop, also capped by RLIMIT_NOFILE).
  max_n=${mem_sizes[${#mem_sizes[@]}-1]}
  start_upstream $(((max_n + fd_limit - 301) / (fd_limit - 300))) --direct-descriptors
  for n in "${mem_sizes[@]}"; do
    # A proxied connection holds two descriptors: one process per ~9 800.
    procs=$(((n + 8499) / 8500))
    [ "$n" -le 9800 ] && procs=1
    echo "memory: $n idle proxied connections ($procs proxy process(es) each)"
    for name in wsgate-uring nginx haproxy; do
      start_proxy "$name" "$procs" || { stop_proxy; continue; }
      sleep 1  # start-up allocations settle before the "before" sample
      before=$(rss_kb "${proxy_cpu_pids[@]}")
      j=$out/json/idle-$name-$n.json
      ready=$out/ready-$name-$n
      rm -f "$ready"
      load "$j" "$name" "" --url "ws://127.0.0.1:$px_port/" --mode idle -c "$n" -t 8 \
        --ping-interval 30 --connect-timeout 180 --concurrency 256 --ready-file "$ready" &
      lp=$!
      for _ in $(seq 2000); do [ -f "$ready" ] && break; kill -0 "$lp" 2>/dev/null || break; sleep 0.1; done
      up=""
      if [ -f "$ready" ]; then
        sleep 2
        up=$(rss_kb "${proxy_cpu_pids[@]}")
      fi
      wait "$lp" || true
      stop_proxy
      if [ -f "$j" ] && [ -n "$up" ]; then
        record "$j" proxy_processes="$procs" proxy_rss_before_kb="$before" proxy_rss_up_kb="$up"
        /usr/bin/python3 - "$j" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
per = (r["proxy_rss_up_kb"] - r["proxy_rss_before_kb"]) * 1024 / max(1, r["peak_up"])
print(f"    {r['label']:<14} {r['peak_up']}/{r['connections']} up  RSS {r['proxy_rss_before_kb']:.0f} -> "
      f"{r['proxy_rss_up_kb']:.0f} kB  {per:,.0f} B per proxied connection  errors {r['errors_total']}")
PY
      else
        echo "    $name: not all $n connections came up (see $out/logs/)"
      fi
    done
  done
  stop_pid "$upstream_pid"
fi

echo " / $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/loadavg.txt"
/usr/bin/python3 scripts/bench_proxy_report.py "$out"
