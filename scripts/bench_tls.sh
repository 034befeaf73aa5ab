#!/usr/bin/env bash
# TLS cost, side by side in one run (bench/README.md, "TLS"): the server pinned
# to core 1, wsload to core 0, as scripts/bench.sh does.
#  1. echo over TLS vs plain at 1000 x 16 B, 1000 x 1 KiB and 100 x 64 KiB, on
#     io_uring and epoll: one fresh wsgate per point with a plain and a TLS
#     listener, the plain run right before the TLS one; msg/s, server CPU per
#     message, ratios TLS/plain;
#  2. handshakes: connect mode (TCP + TLS + WebSocket upgrade + close) against
#     an ECDSA P-256 and an RSA 2048 certificate, full and resumed (tickets,
#     --tls-resume), plain beside them; handshakes per server CPU-second;
#  3. idle memory: server RSS per idle connection at N connections, TLS vs plain
#     (after the hold, when quiet connections gave back their record buffers).
# Certificates are made with the openssl CLI in a temporary directory.
#
# usage: scripts/bench_tls.sh [--quick] [--build-dir DIR] [--out DIR] [--backends "io_uring epoll"]
#                             [--only echo|connect|idle] [--idle-backends "io_uring"]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
quick=0 build_dir=${BUILD_DIR:-build/release} out="" backends="io_uring epoll" only="" idle_backends="io_uring"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --build-dir) build_dir=$2; shift ;;
    --out) out=$2; shift ;;
    --backends) backends=$2; shift ;;
    --only) only=$2; shift ;;
    --idle-backends) idle_backends=$2; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench_tls: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then
  points=("200 16" "200 1024" "20 65536"); duration=1 warmup=0.5 idle_n=2000 idle_hold=3
else
  points=("1000 16" "1000 1024" "100 65536"); duration=4 warmup=1 idle_n=10000 idle_hold=4
fi
connect_slots=32
port_plain=9311 port_tls=9312

ninja -C "$build_dir" -j2 src/gateway/wsgate bench/wsload >/dev/null
wsgate=$build_dir/src/gateway/wsgate
wsload=$build_dir/bench/wsload
out=${out:-$build_dir/bench-results/tls-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out/json" "$out/logs"
ulimit -n "$(ulimit -Hn)"
if [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c 1) pin_load=(taskset -c 0)
else
  pin_server=() pin_load=()
fi

pki=$(mktemp -d /tmp/wsgate-bench-tls.XXXXXX)
server_pid=""
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
cleanup() { stop_server; rm -rf "$pki"; }
trap cleanup EXIT INT TERM

# A root CA and two leaves for localhost / 127.0.0.1 signed by it.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/ca.key" 2>/dev/null
openssl req -x509 -new -key "$pki/ca.key" -out "$pki/ca.pem" -days 2 -subj "/CN=bench root" \
  -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$pki/leaf.ext"
for kind in ec rsa; do
  if [ "$kind" = ec ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/$kind.key" 2>/dev/null
  else
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/$kind.key" 2>/dev/null
  fi
  openssl req -new -key "$pki/$kind.key" -out "$pki/$kind.csr" -subj "/CN=localhost" 2>/dev/null
  openssl x509 -req -in "$pki/$kind.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
    -out "$pki/$kind.pem" -days 2 -extfile "$pki/leaf.ext" 2>/dev/null
done

start_server() {  # name cert-kind backend extra-flags...
  local name=$1 kind=$2 backend=$3; shift 3
  local log=$out/logs/$name.log
  "${pin_server[@]}" "$wsgate" --listen "127.0.0.1:$port_plain" --listen "127.0.0.1:$port_tls,tls" \
    --tls-cert "$pki/$kind.pem" --tls-key "$pki/$kind.key" --backend "$backend" --threads 1 \
    --idle-timeout 120 --max-connections 200000 "$@" >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do
    [ "$(grep -c "listening on" "$log" 2>/dev/null)" -ge 2 ] && { sleep 0.3; return 0; }
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench_tls: $name did not start (see $log)" >&2
  return 1
}
run_load() {  # label url args...
  local label=$1 url=$2; shift 2
  "${pin_load[@]}" "$wsload" --url "$url" --tls-ca "$pki/ca.pem" --server-pid "$server_pid" \
    --no-progress --label "$label" --json "$out/json/$label.json" "$@" >"$out/logs/$label.txt" 2>&1 ||
    echo "bench_tls: $label: wsload failed (see $out/logs/$label.txt)" >&2
  grep -E "msg/s|handshakes/s|TLS hand|server pid|B per connection|errors" "$out/logs/$label.txt" | sed 's/^/    /'
}
plain_url="ws://127.0.0.1:$port_plain/" tls_url="wss://localhost:$port_tls/"
# Plain runs go without --tls-ca (wsload turns TLS on when it is given).
run_plain() { local label=$1; shift; "${pin_load[@]}" "$wsload" --url "$plain_url" --server-pid "$server_pid" \
    --no-progress --label "$label" --json "$out/json/$label.json" "$@" >"$out/logs/$label.txt" 2>&1 ||
    echo "bench_tls: $label: wsload failed" >&2
  grep -E "msg/s|handshakes/s|server pid|B per connection|errors" "$out/logs/$label.txt" | sed 's/^/    /'; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/loadavg.txt"
wanted() { [ -z "$only" ] || [ "$only" = "$1" ]; }
wanted echo && for backend in $backends; do
  for point in "${points[@]}"; do
    read -r n size <<<"$point"
    echo "echo $backend $n x $size B"
    start_server "echo-$backend-$n-$size" ec "$backend"
    run_plain "echo-plain-$backend-$n-$size" -c "$n" -s "$size" -t "$duration" --warmup "$warmup"
    run_load "echo-tls-$backend-$n-$size" "$tls_url" -c "$n" -s "$size" -t "$duration" --warmup "$warmup"
    stop_server
  done
done

wanted connect && for kind in ec rsa; do
  echo "handshakes, $kind certificate (io_uring)"
  start_server "connect-$kind" "$kind" io_uring
  [ "$kind" = ec ] && run_plain "connect-plain" --mode connect -c "$connect_slots" -t "$duration" --warmup "$warmup"
  run_load "connect-tls-$kind-full" "$tls_url" --mode connect -c "$connect_slots" -t "$duration" --warmup "$warmup"
  run_load "connect-tls-$kind-resumed" "$tls_url" --mode connect --tls-resume -c "$connect_slots" -t "$duration" --warmup "$warmup"
  stop_server
done

wanted idle && for backend in $idle_backends; do
  for proto in plain tls; do
    echo "idle memory, $proto, $idle_n connections ($backend)"
    start_server "idle-$proto-$backend" ec "$backend"
    sleep 0.5
    if [ "$proto" = plain ]; then
      run_plain "idle-plain-$backend" --mode idle -c "$idle_n" -t "$idle_hold" --ping-interval 60 --connect-timeout 60
    else
      run_load "idle-tls-$backend" "$tls_url" --mode idle -c "$idle_n" -t "$idle_hold" --ping-interval 60 --connect-timeout 60
    fi
    stop_server
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/loadavg.txt"
/usr/bin/python3 scripts/bench_tls_report.py "$out" | tee "$out/tls.md"
