#!/usr/bin/env bash
# The Redis engine's cost (docs/redis-engine.md), one run, side by side:
#  1. cross-node fan-out: 3 nodes (127.0.0.1/.2/.3) on one redis-server,
#     1000 channels, SUBS subscribers spread over the nodes (a wsload per
#     node), publishers on node A through the HTTP API at RATE publications/s
#     (open loop): deliveries/s, publish->delivery p50/p99 (wsload stamps each
#     publication with CLOCK_MONOTONIC, one clock for every process), Redis CPU
#     per publication (/proc/PID/stat) -- beside the same load on one node with
#     the memory engine;
#  2. publish throughput (closed loop, 32 publishers x 8 in flight, 100
#     channels, one subscriber each) through 1, 2 and 4 shards (redis-servers),
#     and with one publisher and one publication in flight (one command per
#     round trip) against 32 x 8 (pipelined: a turn's commands in one send).
# Bounded: about 2 minutes. Results: OUT/*.json and the table printed (also
# OUT/redis.md).
#
# usage: scripts/bench_redis.sh [--build-dir DIR] [--out DIR] [--subs N] [--rate R] [--duration S]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build_dir=build/release out="" subs=10000 rate=2000 duration=4
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift ;;
    --out) out=$2; shift ;;
    --subs) subs=$2; shift ;;
    --rate) rate=$2; shift ;;
    --duration) duration=$2; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench_redis: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -z "$out" ] && out=$(mktemp -d /tmp/wsgate-bench-redis.XXXXXX)
mkdir -p "$out/logs"
ninja -C "$build_dir" src/gateway/wsgate bench/wsload >/dev/null
wsgate=$build_dir/src/gateway/wsgate
wsload=$build_dir/bench/wsload
key=bench-key
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap cleanup EXIT

redis_start() {  # port -> pid in $redis_pid
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning \
    >/dev/null 2>&1 &
  redis_pid=$!
  pids+=("$redis_pid")
  for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.05; done
  echo "bench_redis: redis-server on $1 did not start" >&2; exit 1
}
node_start() {  # host port extra-flags... -> pid in $node_pid
  local host=$1 port=$2; shift 2
  "$wsgate" --mode pubsub --listen "$host:$port" --threads 1 --api-key "$key" \
    --history-size 16 --max-connections 20000 "$@" >>"$out/logs/wsgate.log" 2>&1 &
  node_pid=$!
  pids+=("$node_pid")
  for _ in $(seq 100); do
    curl -sf "http://$host:$port/healthz" >/dev/null 2>&1 && return
    sleep 0.05
  done
  echo "bench_redis: wsgate on $host:$port not healthy" >&2; exit 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
load() {  # label host port subscribers publishers extra...
  local label=$1 host=$2 port=$3 n=$4 p=$5; shift 5
  "$wsload" --mode pubsub --url "ws://$host:$port/connection/websocket" --label "$label" \
    --json "$out/$label.json" --api-key "$key" --no-progress -c "$n" --publishers "$p" \
    -s 100 -t "$duration" --warmup 1 --drain 2 "$@" >>"$out/logs/wsload.txt" 2>&1
}

ports=(9431 9432 9433 9434)
# ---- 1. memory engine, one node ----
node_start 127.0.0.1 9441
load memory_1node 127.0.0.1 9441 "$subs" 4 --channels 1000 --rate "$rate"
cleanup

# ---- 1. redis engine, three nodes ----
redis_start "${ports[0]}"
rpid=$redis_pid
for i in 1 2 3; do node_start "127.0.0.$i" 9441 --engine redis --redis "127.0.0.1:${ports[0]}"; done
third=$((subs / 3))
before=$(cpu_ticks "$rpid")
load redis_3nodes_B 127.0.0.2 9441 "$third" 0 --remote-publishers 4 --channels 1000 -t $((duration + 2)) --warmup 0 &
b=$!
load redis_3nodes_C 127.0.0.3 9441 "$third" 0 --remote-publishers 4 --channels 1000 -t $((duration + 2)) --warmup 0 &
c=$!
sleep 1
load redis_3nodes_A 127.0.0.1 9441 $((subs - 2 * third)) 4 --channels 1000 --rate "$rate"
wait "$b" "$c"
after=$(cpu_ticks "$rpid")
echo "{\"redis_cpu_ticks\": $((after - before)), \"hz\": $(getconf CLK_TCK)}" >"$out/redis_cpu.json"
cleanup

# ---- 2. publish throughput by shards, pipelined or not ----
for shards in 1 2 4; do
  flags=(--engine redis)
  for s in $(seq 0 $((shards - 1))); do
    redis_start "${ports[$s]}"
    flags+=(--redis "127.0.0.1:${ports[$s]}")
  done
  node_start 127.0.0.1 9441 --threads 2 "${flags[@]}"
  load "shards_$shards" 127.0.0.1 9441 100 32 --channels 100 -d 8
  if [ "$shards" = 1 ]; then
    load "round_trip_1x1" 127.0.0.1 9441 100 1 --channels 100 -d 1
  fi
  cleanup
done

python3 - "$out" <<'PY' | tee "$out/redis.md"
import json, os, sys
out = sys.argv[1]
def j(name):
    with open(os.path.join(out, name + ".json")) as f:
        return json.load(f)
mem = j("memory_1node")
parts = [j("redis_3nodes_" + n) for n in "ABC"]
cpu = j("redis_cpu")
pubs = parts[0]["pubsub"]["publications"]
deliv = sum(p["pubsub"]["deliveries_per_s"] for p in parts)
lost = sum(p["pubsub"]["lost"] + p["pubsub"]["duplicates"] + p["pubsub"]["reordered"] for p in parts)
print("| run | deliveries/s | p50 ms | p99 ms | lost+dup+reordered |")
print("|---|---:|---:|---:|---:|")
m = mem["pubsub"]
print(f"| memory engine, 1 node | {m['deliveries_per_s']:,.0f} | {mem['latency_us']['p50']/1000:.2f} | "
      f"{mem['latency_us']['p99']/1000:.2f} | {m['lost'] + m['duplicates'] + m['reordered']} |")
for n, p in zip("ABC", parts):
    print(f"| redis engine, node {n} | {p['pubsub']['deliveries_per_s']:,.0f} | "
          f"{p['latency_us']['p50']/1000:.2f} | {p['latency_us']['p99']/1000:.2f} | "
          f"{p['pubsub']['lost'] + p['pubsub']['duplicates'] + p['pubsub']['reordered']} |")
print(f"\nredis engine, 3 nodes: {deliv:,.0f} deliveries/s in all "
      f"({deliv / m['deliveries_per_s'] if m['deliveries_per_s'] else 0:.2f} x the memory engine); "
      f"Redis CPU {cpu['redis_cpu_ticks'] / cpu['hz'] * 1e6 / max(1, parts[0]['pubsub']['publications_all']):.1f} us "
      f"per publication ({parts[0]['pubsub']['publications_all']} publications)")
print("\n| publish throughput | publications/s | p99 ms | errors |")
print("|---|---:|---:|---:|")
for name in ("shards_1", "shards_2", "shards_4", "round_trip_1x1"):
    r = j(name)
    print(f"| {name} | {r['pubsub']['publications_per_s']:,.0f} | {r['latency_us']['p99']/1000:.2f} | "
          f"{r['pubsub']['publish_errors']} |")
PY
echo "results: $out"
