#!/usr/bin/python3
"""wsload over TLS (wss://) against wsgate's TLS listener, on instances this
suite starts.

  test_wsload_tls.py WSGATE_BINARY BACKEND [CASE-FILTER...]

The benchmarks (scripts/bench_tls.sh) trust these runs, so each checks what
wsload reports against what the server counted:
- echo of 1 KiB and 64 KiB messages over wss:// with the chain verified
  against the test root CA: messages verified, no errors, one full handshake
  per connection;
- connect mode with --tls-resume: reconnects resume the ticket (no full
  handshake in the window), and wsgate's /metrics counts them resumed;
- a CA that did not sign the server's chain: every connection fails as `tls`.
"""

import re
import sys
import urllib.request

import wsload_runner
import wsraw
from tls_certs import TestPki
from wsgate_proc import Server, free_port
from wsraw import check, eq

if len(sys.argv) < 3:
    print("usage: test_wsload_tls.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
WSLOAD = wsload_runner.wsload_path(BIN)
suite = wsraw.Suite("wsload_tls")

pki = TestPki()
LEAF, LEAF_KEY = pki.leaf("localhost", ["DNS:localhost", "IP:127.0.0.1"], "ec")
TLS_PORT, ADMIN_PORT = free_port(), free_port()
FLAGS = ["--backend", BACKEND, "--threads", "2", "--close-timeout", "2",
         "--listen", f"127.0.0.1:{TLS_PORT},tls", "--admin-listen", f"127.0.0.1:{ADMIN_PORT}",
         "--tls-cert", LEAF, "--tls-key", LEAF_KEY]


def wsload(*args):
    return wsload_runner.run_json(WSLOAD, ["--no-progress", "--warmup", "0.3", *args],
                                  prefix="wsload-tls.")


def errors(result):
    return {k: v for k, v in result["errors"].items() if v}


def resumed_metric():
    with urllib.request.urlopen(f"http://127.0.0.1:{ADMIN_PORT}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(r'^wsgate_tls_handshakes_total\{kind="resumed"\} (\d+)', text, re.M)
    check(m, "no resumed handshake counter in /metrics")
    return int(m.group(1))


def echo(size, connections):
    res, out = wsload("--url", f"wss://localhost:{TLS_PORT}/", "--tls-ca", pki.ca,
                      "-c", str(connections), "-s", str(size), "-t", "1")
    eq(errors(res), {}, f"errors ({out})")
    check(res["messages"] > 0, f"no verified echo: {out}")
    eq(res["up_at_end"], connections, "connections up at the end")
    eq(res["tls"]["full_handshakes"], connections, "full handshakes")


def resumed_reconnects():
    before = resumed_metric()
    res, out = wsload("--url", f"wss://localhost:{TLS_PORT}/", "--tls-ca", pki.ca,
                      "--mode", "connect", "--tls-resume", "-c", "4", "-t", "1")
    eq(errors(res), {}, f"errors ({out})")
    check(res["handshakes"] > 10, f"few cycles: {out}")
    eq(res["tls"]["full_handshakes"], 0, "full handshakes in the window")
    # A cycle whose handshake fell in the warm-up may end in the window: up to
    # one per connection slot.
    check(res["tls"]["resumed_handshakes"] >= res["handshakes"] - 4,
          f"resumed {res['tls']['resumed_handshakes']} < cycles {res['handshakes']}")
    counted = resumed_metric() - before
    check(counted >= res["tls"]["resumed_handshakes"],
          f"server counted {counted} resumed, wsload {res['tls']['resumed_handshakes']}")


def untrusted():
    other = TestPki()
    res, out = wsload("--url", f"wss://localhost:{TLS_PORT}/", "--tls-ca", other.ca, "-c", "3",
                      "-t", "0.2")
    eq(errors(res), {"tls": 3}, f"errors ({out})")
    eq(res["messages"], 0, "messages")


if not wsload_runner.available(WSLOAD):
    suite.skip("wsload over wss://", f"no wsload at {WSLOAD}")
else:
    with Server(BIN, FLAGS):
        suite.run("echo 1 KiB x 50 connections over wss://, chain verified", echo, 1024, 50)
        suite.run("echo 64 KiB x 4 connections over wss://", echo, 65536, 4)
        suite.run("connect --tls-resume: every reconnect resumed, counted by wsgate",
                  resumed_reconnects)
        suite.run("a CA that did not sign the chain: every connection fails as tls", untrusted)
suite.finish()
