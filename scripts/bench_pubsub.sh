#!/usr/bin/env bash
# The pub/sub fan-out benchmark (scripts/bench.sh --pubsub runs it; it can run
# alone). Side by side at each point, a fresh server each: the raw limit
# (bench/raw_fanout_server: one frame built once, one send() per subscriber),
# wsgate --mode pubsub on io_uring and on epoll, driven by wsload --mode pubsub
# (closed loop: a publication goes out once the earlier ones reached every
# subscriber; publishers use the HTTP API, or WebSocket client publish when
# this wsgate answers POST /api/publish with 404 -- PUBSUB_PUBLISH_VIA=http|ws
# forces one). One publication in flight per publisher on the one-channel
# points (PUBSUB_INFLIGHT): the raw limit sends each publication to each
# subscriber with its own send(), while wsgate may write several queued
# publications with one send when more are in flight; the wsgate rows show its
# sends per delivery (--io-stats) so the two can be told apart.
# - fan-out matrix: 1 channel x {1000, 10000} subscribers and 1000 channels x 10
#   subscribers, 100 B and 4 KiB, --threads 1 and all threads: deliveries/s,
#   server CPU seconds (/proc/PID/stat), deliveries per CPU-second and ratios;
# - latency: p99 publish->delivery at half each server's maximum publication
#   rate (open loop) with 10,000 subscribers on one channel, 100 B, one thread;
# - memory: wsgate io_uring RSS with idle subscribers (one subscription each)
#   at two sizes (100,000 when --direct-descriptors lets wsgate past the fd
#   limit, else as many as the limit allows), and with 5 subscriptions each.
# Bounded: about 6 minutes, --quick about 2. Results: OUT/pubsub/*.json and
# the tables printed by scripts/bench_pubsub_report.py (also OUT/pubsub.md).
#
# usage: scripts/bench_pubsub.sh [--quick] [--build-dir DIR] [--out DIR] [--no-memory]
#                                [--no-latency] [--no-fanout]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

quick=0 memory=1 latency=1 fanout_on=1
build_dir=${BUILD_DIR:-build/release}
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --build-dir) build_dir=$2; shift ;;
    --out) out=$2; shift ;;
    --no-memory) memory=0 ;;
    --no-latency) latency=0 ;;
    --no-fanout) fanout_on=0 latency=0 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "bench_pubsub: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$quick" = 1 ]; then
  duration=1 warmup=0.5
else
  duration=3 warmup=1
fi
api_key=bench-key
# History on (16 per channel) so every push carries its offset and wsload checks
# that offsets go up by exactly one; the raw server writes offsets too.
history=${PUBSUB_HISTORY:-16}
port=9320 port_mem=9321
nthreads=$(nproc)
# "subscribers channels publishers in-flight" points of the fan-out matrix
inflight=${PUBSUB_INFLIGHT:-1}
fanout=("1000 1 1 $inflight" "10000 1 1 $inflight" "10000 1000 4 16")
payloads=(100 4096)

if [ ! -f "$build_dir/build.ninja" ]; then
  meson setup "$build_dir" --buildtype=release >/dev/null
fi
ninja -C "$build_dir" -j2 src/gateway/wsgate bench/wsload bench/raw_fanout_server >/dev/null
wsgate=$build_dir/src/gateway/wsgate
wsload=$build_dir/bench/wsload
raw_server=$build_dir/bench/raw_fanout_server
servers=(raw wsgate-uring wsgate-epoll)
# Read once: `wsgate --help | grep -q` under pipefail fails when grep exits first.
wsgate_help=$("$wsgate" --help 2>&1 || true)
if ! grep -q -- '--mode.*pubsub' <<<"$wsgate_help"; then
  echo "bench_pubsub: this wsgate has no --mode pubsub: the raw limit alone is measured" >&2
  servers=(raw) memory=0
fi

out=${out:-$build_dir/bench-results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out/pubsub" "$out/logs"
ulimit -n "$(ulimit -Hn)"
fd_limit=$(ulimit -Hn)

# One thread: the server on core 1, wsload on core 0. All threads: the server
# may use every core, and shares them with wsload.
pin_server=() pin_load=()
pin_for() {  # threads
  if [ "$nthreads" -ge 2 ] && [ "$1" = 1 ]; then
    pin_server=(taskset -c 1) pin_load=(taskset -c 0)
  else
    pin_server=() pin_load=()
  fi
}

server_pid=""
start_server() {  # log command...
  local log=$1; shift
  "${pin_server[@]}" "$@" >>"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do
    grep -q "listening on" "$log" 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench_pubsub: server did not start (see $log)" >&2
  stop_server
  return 1
}
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap stop_server EXIT INT TERM

server_command() {  # name threads listen-port
  local name=$1 threads=$2 p=$3
  case "$name" in
    raw) echo "$raw_server --listen 127.0.0.1:$p --threads $threads --max-seconds 900" ;;
    wsgate-uring|wsgate-epoll)
      local b=io_uring
      [ "$name" = wsgate-epoll ] && b=epoll
      echo "$wsgate --mode pubsub --listen 127.0.0.1:$p --backend $b --threads $threads --api-key $api_key" \
           "--allow-client-publish --history-size $history --max-connections 200000 --io-stats" ;;
  esac
}

# label: server|kind|threads|subscribers|channels|payload|subscriptions
run_load() {  # label json wsload-args...
  local label=$1 json=$2; shift 2
  echo "  $label"
  if "${pin_load[@]}" "$wsload" --mode pubsub --label "$label" --json "$json" --server-pid "$server_pid" \
      --api-key "$api_key" --publish-via "$via" --no-progress "$@" >>"$out/logs/wsload-pubsub.txt" \
      2>>"$out/logs/wsload-pubsub-progress.log"; then
    /usr/bin/python3 - "$json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p, s = r["pubsub"], r.get("server") or {}
cpu = s.get("cpu_window_s", 0)
print(f"    {p['deliveries_per_s']:>10,.0f} deliveries/s  {p['publications_per_s']:>8,.0f} pub/s"
      f"  p99 {r['latency_us']['p99']:>9.0f} us  server CPU {cpu:.2f} s"
      f" ({p['deliveries'] / cpu if cpu else 0:,.0f} per CPU-s)  wsload {r['cpu']['window_percent_of_core']:.0f}%"
      f"  lost {p['lost']} dup {p['duplicates']} reord {p['reordered']} offset-errors {p['offset_errors']}"
      f"  errors {r['errors_total']}")
PY
  else
    echo "    wsload failed (see $out/logs/wsload-pubsub-progress.log)"
    rm -f "$json"
  fi
}

# Adds the server's "io stats" line (wsgate --io-stats, printed at exit) to a
# result as "server_io": sends, waits, SQEs of the run.
attach_io_stats() {  # log json
  [ -f "$2" ] || return 0
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, re, sys
lines = [l for l in open(sys.argv[1], errors="replace") if "io stats" in l]
if lines:
    r = json.load(open(sys.argv[2]))
    r["server_io"] = {}
    for l in lines:  # one line per loop: summed
        for k, v in re.findall(r"(\w+) (\d+)", l.split(":", 2)[2].split(";")[0]):
            r["server_io"][k] = r["server_io"].get(k, 0) + int(v)
    json.dump(r, open(sys.argv[2], "w"))
PY
}

# Publishers: the HTTP API unless this wsgate does not serve it yet.
via=${PUBSUB_PUBLISH_VIA:-}
if [ -z "$via" ]; then
  via=http
  if [ "${#servers[@]}" -gt 1 ]; then
    pin_for 1
    # shellcheck disable=SC2046
    start_server "$out/logs/pubsub-probe.log" $(server_command wsgate-uring 1 "$port")
    status=$(/usr/bin/python3 - "$port" "$api_key" <<'PY'
import sys, urllib.error, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/api/publish", method="POST",
                             data=b'{"channel":"probe","data":{}}', headers={"X-API-Key": sys.argv[2]})
try:
    print(urllib.request.urlopen(req, timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
except OSError:
    print(0)
PY
)
    stop_server
    [ "$status" = 200 ] || via=ws
  fi
fi

cut -d' ' -f1-3 /proc/loadavg >"$out/pubsub/loadavg.txt"
echo "pubsub: results in $out/pubsub (machine: $nthreads cores, load $(cut -d' ' -f1-3 /proc/loadavg), history $history, publishers via $via)"
echo "fan-out: raw limit, wsgate io_uring, wsgate epoll at each point (fresh server each)"
thread_counts=(1)
[ "$nthreads" -gt 1 ] && thread_counts+=("$nthreads")
[ "$fanout_on" = 1 ] || thread_counts=()
for threads in "${thread_counts[@]}"; do
  pin_for "$threads"
  for point in "${fanout[@]}"; do
    read -r subs channels publishers inflight <<<"$point"
    for size in "${payloads[@]}"; do
      for name in "${servers[@]}"; do
        tag="$name-fanout-t$threads-n$subs-k$channels-s$size"
        # shellcheck disable=SC2046  # the command is a word list on purpose
        start_server "$out/logs/pubsub-$tag.log" $(server_command "$name" "$threads" "$port") || continue
        run_load "$name|fanout|$threads|$subs|$channels|$size|1" "$out/pubsub/$tag.json" \
          --url "ws://127.0.0.1:$port/connection/websocket" -c "$subs" --channels "$channels" \
          --publishers "$publishers" -d "$inflight" -s "$size" -t "$duration" --warmup "$warmup" \
          --connect-timeout 60
        stop_server
        attach_io_stats "$out/logs/pubsub-$tag.log" "$out/pubsub/$tag.json"
      done
    done
  done
done

if [ "$latency" = 1 ]; then
  echo "latency at half each server's maximum rate: 10000 subscribers, 1 channel, 100 B, one thread"
  pin_for 1
  for name in "${servers[@]}"; do
    max_json="$out/pubsub/$name-fanout-t1-n10000-k1-s100.json"
    [ -f "$max_json" ] || { echo "  $name: no maximum measured"; continue; }
    rate=$(/usr/bin/python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['pubsub']['publications_per_s'] / 2, 1))" "$max_json")
    tag="$name-halfrate-t1-n10000-k1-s100"
    # shellcheck disable=SC2046
    start_server "$out/logs/pubsub-$tag.log" $(server_command "$name" 1 "$port") || continue
    run_load "$name|halfrate|1|10000|1|100|1" "$out/pubsub/$tag.json" \
      --url "ws://127.0.0.1:$port/connection/websocket" -c 10000 --channels 1 --publishers 1 \
      --rate "$rate" -s 100 -t "$duration" --warmup "$warmup" --connect-timeout 60
    stop_server
  done
fi

if [ "$memory" = 1 ]; then
  # wsgate holds more connections than its fd limit only with io_uring direct
  # descriptors (a registered table per loop, itself capped by the fd limit).
  mem_flags=(--threads 1)
  sizes=(10000 $(( fd_limit - 1000 )))
  if grep -q -- --direct-descriptors <<<"$wsgate_help"; then
    per_loop=$(( fd_limit - 256 ))
    mem_flags=(--direct-descriptors --threads $(( (100000 + per_loop - 1) / per_loop )))
    sizes=(10000 100000)
  fi
  echo "memory: wsgate io_uring --mode pubsub ${mem_flags[*]}, idle subscribers (fresh server each)"
  pin_for 1
  # The largest last: its teardown leaves the source addresses' ports in
  # TIME_WAIT for a while.
  for case in "${sizes[0]} 1" "${sizes[0]} 5" "${sizes[1]} 1"; do
    read -r n m <<<"$case"
    tag="wsgate-uring-memory-n$n-m$m"
    start_server "$out/logs/pubsub-$tag.log" "$wsgate" --mode pubsub --listen "127.0.0.1:$port_mem" \
      --backend io_uring --max-connections 200000 "${mem_flags[@]}" --api-key "$api_key" || continue
    sleep 0.5  # let start-up allocations settle before the "before" sample
    run_load "wsgate-uring|memory|${mem_flags[*]}|$n|1000|0|$m" "$out/pubsub/$tag.json" \
      --url "ws://127.0.0.1:$port_mem/connection/websocket" -c "$n" --channels 1000 --subscriptions "$m" \
      --publishers 0 -t 2 --warmup 0 --connect-timeout 120
    stop_server
  done
fi

echo " / $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/pubsub/loadavg.txt"
/usr/bin/python3 scripts/bench_pubsub_report.py "$out"
