#!/usr/bin/env python3
"""wsload --mode pubsub against a wsgate --mode pubsub of its own: the load
tool the fan-out benchmarks rely on still speaks the protocol, and a short
run with publishers on both loops (client publish and the HTTP API) loses,
duplicates and reorders nothing, with every offset +1 per channel. A smoke
run of a few seconds, not a benchmark: no rate is checked.

    test_wsload_pubsub.py WSGATE_BINARY BACKEND
"""

import sys

import wsraw
import wsload_runner
from wsgate_proc import Server, free_port
from wsraw import check, eq

if len(sys.argv) < 3:
    print("usage: test_wsload_pubsub.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
WSLOAD = wsload_runner.wsload_path(BIN)
suite = wsraw.Suite("wsload_pubsub")
KEY = "wsload-smoke-key"


def run_wsload(port, via):
    report, _ = wsload_runner.run_json(
        WSLOAD, ["--mode", "pubsub", "--url", f"ws://127.0.0.1:{port}/connection/websocket",
                 "-c", "400", "-s", "64", "-d", "2", "--publishers", "4", "--channels", "5",
                 "--subscriptions", "2", "--publish-via", via, "--api-key", KEY, "-t", "2",
                 "--warmup", "0.5", "--no-progress"], prefix="wsload-pubsub.")
    return report


def smoke(via):
    port = free_port()
    with Server(BIN, ["--mode", "pubsub", "--listen", f"127.0.0.1:{port}", "--backend", BACKEND,
                      "--threads", "2", "--api-key", KEY, "--allow-client-publish",
                      "--history-size", "16"]) as srv:
        d = run_wsload(port, via)
        p = d["pubsub"]
        print(f"     {via}: {p['deliveries']} deliveries, {p['publications']} publications, "
              f"offsets checked {p['offsets_checked']}", flush=True)
        eq(p["subscriptions_up"], 800, "subscriptions up")
        check(p["deliveries"] > 0 and p["publications"] > 0, f"nothing delivered: {p}")
        for key in ("lost", "duplicates", "reordered", "offset_errors", "publish_errors"):
            eq(p[key], 0, key)
        check(p["offsets_checked"] > 0, "no offset was checked")
        eq(d["errors_total"], 0, f"wsload errors {d['errors']}")
        eq(srv.terminate(10), 0, "exit status after SIGTERM")


if not wsload_runner.available(WSLOAD):
    suite.skip("client publish", f"no wsload at {WSLOAD}")
    suite.skip("HTTP API publish", f"no wsload at {WSLOAD}")
else:
    suite.run("client publish: nothing lost, duplicated or reordered", smoke, "ws")
    suite.run("HTTP API publish: nothing lost, duplicated or reordered", smoke, "http")
suite.finish()
