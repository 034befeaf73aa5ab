#!/usr/bin/env bash
# Runs every real-peer suite against one wsgate binary and backend.
#
#   tests/peers/run_peers.sh WSGATE_BINARY BACKEND [SUITE...]
#
# With SUITE names (e.g. violations conformance) only those suites run, then
# the shutdown checks (scripts/test.sh runs a few this way against the
# sanitizer build).
# WSGATE_BINARY may be `standin` to use tests/peers/standin_server.py (for
# developing the suites only). Starts three servers on free loopback ports:
#   main:  --threads 2 --handshake-timeout 2 --idle-timeout 30 --close-timeout 2
#   small: the same plus --max-connections 50 --max-message-bytes 65536
#   idle:  the same but --idle-timeout 2 (idle ping/close timing)
#   takeover:  main's flags plus --deflate-no-context-takeover none
#   nodeflate: main's flags plus --deflate off
# waits for GET /healthz, runs each suite under `timeout`, checks the servers
# are still alive after each suite (a crash is a failure, and the server is
# restarted so later suites still mean something), and finally checks that
# SIGTERM gives a graceful shutdown (close 1001 to a client, exit status 0).
# Every suite prints its own `N passed, N failed`; the last line is the sum.
set -uo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 WSGATE_BINARY BACKEND [SUITE...]" >&2
  echo "0 passed, 1 failed"
  exit 2
fi
bin=$1
backend=$2
only=" ${*:3} "
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3 # Debian's python, which has python3-websockets
work=$(mktemp -d /tmp/wsgate-peers.XXXXXX)

total_passed=0
total_failed=0
total_skipped=0
declare -A pid port

# Timing flags shared with the suites (they read them from the environment).
export WSGATE_HOST=127.0.0.1
export WSGATE_HANDSHAKE_TIMEOUT=2 WSGATE_IDLE_TIMEOUT=30 WSGATE_CLOSE_TIMEOUT=2
export WSGATE_SMALL_MAX_CONN=50 WSGATE_SMALL_MAX_MESSAGE=65536 WSGATE_IDLE_SHORT=2
export WSGATE_DEFLATE_MIN_BYTES=128 # wsgate's default --deflate-min-bytes
common_flags=(--backend "$backend" --threads 2 --handshake-timeout "$WSGATE_HANDSHAKE_TIMEOUT"
  --idle-timeout "$WSGATE_IDLE_TIMEOUT" --close-timeout "$WSGATE_CLOSE_TIMEOUT")
declare -A extra_flags=(
  [main]=""
  [small]="--max-connections $WSGATE_SMALL_MAX_CONN --max-message-bytes $WSGATE_SMALL_MAX_MESSAGE"
  [idle]="--idle-timeout $WSGATE_IDLE_SHORT"
  [takeover]="--deflate-no-context-takeover none"
  [nodeflate]="--deflate off"
)
servers=(main small idle takeover nodeflate)

cleanup() {
  for name in "${!pid[@]}"; do
    local p=${pid[$name]}
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null
      for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$p" 2>/dev/null
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "run_peers: interrupted"; echo "$total_passed passed, $((total_failed + 1)) failed"; exit 1' INT TERM

free_port() {
  "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

healthy() { # healthy PORT: GET /healthz answers 200 "ok\n"
  "$py" - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request
r = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=2)
sys.exit(0 if r.status == 200 and r.read() == b"ok\n" else 1)
EOF
}

# start_server NAME: starts it on a fresh port (the whole run is capped at 15 min).
start_server() {
  local name=$1
  port[$name]=$(free_port)
  # shellcheck disable=SC2206
  local extra=(${extra_flags[$name]})
  local cmd=("$bin")
  [ "$bin" = standin ] && cmd=("$py" "$here/standin_server.py")
  timeout -k 5 900 "${cmd[@]}" --listen "127.0.0.1:${port[$name]}" "${common_flags[@]}" \
    "${extra[@]}" >>"$work/$name.log" 2>&1 &
  pid[$name]=$!
  for _ in $(seq 100); do
    if healthy "${port[$name]}"; then return 0; fi
    kill -0 "${pid[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "run_peers: server $name did not become healthy on port ${port[$name]}"
  tail -n 20 "$work/$name.log"
  return 1
}

for name in "${servers[@]}"; do
  if ! start_server "$name"; then
    echo "0 passed, 1 failed"
    exit 1
  fi
done
# The server's own PID (a child of `timeout`), for memory checks.
server_pid() { cat "/proc/${pid[${1:-main}]}/task/${pid[${1:-main}]}/children" 2>/dev/null | awk '{print $1}'; }
export_ports() {
  export WSGATE_PORT=${port[main]} WSGATE_PORT_SMALL=${port[small]} WSGATE_PORT_IDLE=${port[idle]}
  export WSGATE_PORT_TAKEOVER=${port[takeover]} WSGATE_PORT_NODEFLATE=${port[nodeflate]}
  WSGATE_PID=$(server_pid)
  WSGATE_PID_SMALL=$(server_pid small)
  export WSGATE_PID WSGATE_PID_SMALL
}
export_ports
echo "run_peers: $bin backend=$backend main=:$WSGATE_PORT small=:$WSGATE_PORT_SMALL idle=:$WSGATE_PORT_IDLE"
head -n 3 "$work/main.log"

add_counts() { # add_counts PASSED FAILED
  total_passed=$((total_passed + $1))
  total_failed=$((total_failed + $2))
}

# run SUITE SECONDS CMD...: runs one suite, adds its counts, checks servers.
run() {
  local suite=$1 secs=$2; shift 2
  if [ "$only" != "  " ] && [[ "$only" != *" $suite "* ]]; then return 0; fi
  local log="$work/suite-$suite.log" start=$SECONDS
  echo "=== $suite"
  timeout -k 5 "$secs" "$@" >"$log" 2>&1
  local rc=$?
  cat "$log"
  local line p=0 f=0 s=0
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    p=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$line")
    s=$(sed -nE 's/^[0-9]+ passed, [0-9]+ failed, ([0-9]+) skipped.*/\1/p' <<<"$line")
    s=${s:-0}
  fi
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "FAIL $suite: timed out after ${secs}s"
    f=$((f + 1))
  elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $suite: exit status $rc without a failure count"
    f=$((f + 1))
  fi
  for name in "${servers[@]}"; do
    if ! kill -0 "${pid[$name]}" 2>/dev/null; then
      wait "${pid[$name]}"
      echo "FAIL $suite: server $name died (status $?); its log ends:"
      tail -n 20 "$work/$name.log"
      f=$((f + 1))
      start_server "$name" || exit 1
    fi
  done
  export_ports
  echo "$suite: $p passed, $f failed$([ "$s" -ne 0 ] && echo ", $s skipped") ($((SECONDS - start))s)"
  add_counts "$p" "$f"
  total_skipped=$((total_skipped + s))
}

run python_client 90 "$py" "$here/test_python_client.py"
run node_client 60 node "$here/test_node_client.mjs"
run chromium 90 node "$here/test_chromium.mjs"
run tshark 60 "$py" "$here/test_tshark.py"
run violations 120 "$py" "$here/test_violations.py"
run conformance 120 "$py" "$here/test_conformance.py"
run concurrency 90 "$py" "$here/test_concurrency.py"
run timeouts 60 "$py" "$here/test_timeouts.py"
run deflate_conformance 90 "$py" "$here/test_deflate_conformance.py"
run deflate_python 90 "$py" "$here/test_deflate_python.py"
run deflate_node 60 node "$here/test_deflate_node.mjs"
# The Centrifugo SDK against the bytes of wsgate's Centrifugo writers, from a
# helper built next to the binary (no wsgate process involved).
samples=$(dirname "$bin")/../../tests/centrifugo_reply_samples
if [ -x "$samples" ]; then
  run centrifuge_codec 60 node "$here/test_centrifuge_codec.mjs" "$samples"
else
  echo "=== centrifuge_codec: skipped (no $samples)"
fi
run handshake_bytes 60 "$py" "$here/test_handshake_bytes.py"
# These start (and stop, by PID) wsgate instances of their own.
if [ "$bin" != standin ]; then
  run listen_trace 60 "$py" "$here/test_listen_trace.py" "$bin" "$backend"
  run slow_readers 90 "$py" "$here/test_slow_readers.py" "$bin" "$backend"
  run memory_release 60 "$py" "$here/test_memory_release.py" "$bin" "$backend"
  run hostile_peers 120 "$py" "$here/test_hostile_peers.py" "$bin" "$backend"
  run compression_abuse 120 "$py" "$here/test_compression_abuse.py" "$bin" "$backend"
  run admission 90 "$py" "$here/test_admission.py" "$bin" "$backend"
  run edge_limits 120 "$py" "$here/test_edge_limits.py" "$bin" "$backend"
  run pubsub_chromium 60 node "$here/test_pubsub_chromium.mjs" "$bin" "$backend"
  run pubsub_protocol 60 "$py" "$here/test_pubsub_protocol.py" "$bin" "$backend"
  run wsload_pubsub 60 "$py" "$here/test_wsload_pubsub.py" "$bin" "$backend"
  run pubsub_api 60 "$py" "$here/test_pubsub_api.py" "$bin" "$backend"
  run pubsub_namespaces 60 "$py" "$here/test_pubsub_namespaces.py" "$bin" "$backend"
  run token_keys 60 "$py" "$here/test_token_keys.py" "$bin" "$backend"
  run pubsub_sdk 90 node "$here/test_pubsub_sdk.mjs" "$bin" "$backend"
  run pubsub_ordering 60 node "$here/test_pubsub_ordering.mjs" "$bin" "$backend"
  run redis_engine 60 "$py" "$here/test_redis_engine.py" "$bin" "$backend"
  run redis_sdk 60 node "$here/test_redis_sdk.mjs" "$bin" "$backend"
  run metrics 60 "$py" "$here/test_metrics.py" "$bin" "$backend"
  run logs 60 "$py" "$here/test_logs.py" "$bin" "$backend"
  run tls 90 "$py" "$here/test_tls.py" "$bin" "$backend"
  run tls_chromium 90 node "$here/test_tls_chromium.mjs" "$bin" "$backend"
  run tls_abuse 60 "$py" "$here/test_tls_abuse.py" "$bin" "$backend"
  run tls_workers 60 "$py" "$here/test_tls_workers.py" "$bin" "$backend"
  run reload 60 "$py" "$here/test_reload.py" "$bin" "$backend"
  run wsload_tls 60 "$py" "$here/test_wsload_tls.py" "$bin" "$backend"
  run sd_notify 60 "$py" "$here/test_sd_notify.py" "$bin" "$backend"
  run proxy 40 "$py" "$here/test_proxy.py" "$bin" "$backend"
  run proxy_balance 60 "$py" "$here/test_proxy_balance.py" "$bin" "$backend"
  run proxy_scale 60 "$py" "$here/test_proxy_scale.py" "$bin" "$backend"
  run proxy_chromium 60 node "$here/test_proxy_chromium.mjs" "$bin" "$backend"
  run proxy_frames 40 "$py" "$here/test_proxy_frames.py" "$bin" "$backend"
  run proxy_health 60 "$py" "$here/test_proxy_health.py" "$bin" "$backend"
  run proxy_routing 60 "$py" "$here/test_proxy_routing.py" "$bin" "$backend"
  run proxy_reload 60 "$py" "$here/test_proxy_reload.py" "$bin" "$backend"
  run live_upgrade 90 "$py" "$here/test_live_upgrade.py" "$bin" "$backend"
  run live_upgrade_proxy 90 "$py" "$here/test_live_upgrade_proxy.py" "$bin" "$backend"
  run live_upgrade_pubsub 90 "$py" "$here/test_live_upgrade_pubsub.py" "$bin" "$backend"
fi

# Graceful shutdown (contract: SIGTERM → close 1001 to every client, wait for
# their close or --close-timeout, exit 0), for both instances.
echo "=== shutdown"
for name in "${servers[@]}"; do
  p=${pid[$name]}
  WSGATE_PORT=${port[$name]} timeout -k 2 20 "$py" "$here/test_shutdown.py" "$p" \
    >"$work/shutdown-$name.log" 2>&1
  rc=$?
  cat "$work/shutdown-$name.log"
  if [ "$rc" -ne 0 ]; then
    echo "FAIL shutdown $name: client side (status $rc)"
    add_counts 0 1
  else
    add_counts 1 0
  fi
  status=timeout
  for _ in $(seq $((10 * (${WSGATE_CLOSE_TIMEOUT%.*} + 5)))); do
    if ! kill -0 "$p" 2>/dev/null; then wait "$p"; status=$?; break; fi
    sleep 0.1
  done
  unset "pid[$name]"
  if [ "$status" = 0 ]; then
    echo "ok   shutdown $name: exit status 0 after SIGTERM"
    add_counts 1 0
  else
    echo "FAIL shutdown $name: exit status $status after SIGTERM; log ends:"
    tail -n 10 "$work/$name.log"
    add_counts 0 1
    kill -KILL "$p" 2>/dev/null
  fi
done

# Skipped cases are counted apart (scripts/test.sh reports them on their own line).
echo "$total_passed passed, $total_failed failed$([ "$total_skipped" -ne 0 ] && echo ", $total_skipped skipped")"
[ "$total_failed" -eq 0 ]
