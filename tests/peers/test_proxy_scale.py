#!/usr/bin/python3
"""wsgate --mode proxy at scale and at its descriptor limit.

  test_proxy_scale.py WSGATE_BINARY BACKEND [CASE-FILTER...]

A proxied connection holds two descriptors in the proxy (the client's and the
upstream's), and RLIMIT_NOFILE here is 20 000 per process, so one process
holds at most ~9 990. Past that the proxy runs as --workers (processes of
their own sharing the port through SO_REUSEPORT, each with the whole limit)
or, on io_uring, with --direct-descriptors: accepted sockets go straight
into each ring's registered file table, upstream sockets move into its
other half once connected, and the process keeps no descriptor for either.
  - 10 000 proxied connections at once, byte-checked: wsload (bench/wsload,
    --mode idle --idle-message) through `--mode proxy --workers 2` (and on
    io_uring through one process, `--direct-descriptors --threads 2`, whose
    descriptor count stays small while they are up) to a wsgate echo
    upstream; a connection counts as up only once its one 1 KiB message came
    back byte for byte, and all 10 000 are up together.
  - One process out of descriptors (RLIMIT_NOFILE 64 via prlimit): the
    client whose upstream socket cannot be opened gets 503 and the log says
    why (not 502 "no server reachable": the server is fine), and once
    tunnels close the proxy serves again.
  - --direct-descriptors with epoll is refused in proxy mode with a message
    naming io_uring and --workers.
"""

import os
import subprocess
import sys
import time

import wsraw
import wsload_runner
from wsgate_proc import Server, free_port, run_flags
from wsraw import check, eq

if len(sys.argv) < 3:
    print("usage: test_proxy_scale.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
WSLOAD = wsload_runner.wsload_path(BIN)
suite = wsraw.Suite("proxy_scale")

N_SCALE = 10000
FD_LIMIT = 64  # the small process's RLIMIT_NOFILE


def proxy_args(port, upstream_port, *extra):
    return ["--mode", "proxy", "--listen", f"127.0.0.1:{port}", "--backend", BACKEND,
            "--threads", "1", "--upstream", f"echo=127.0.0.1:{upstream_port}", "--route", "/=echo",
            "--close-timeout", "1", *extra]


def ten_thousand(direct):
    up, px = free_port(), free_port()
    spread = ["--direct-descriptors", "--threads", "2"] if direct else ["--workers", "2"]
    with Server(BIN, ["--listen", f"127.0.0.1:{up}", "--backend", BACKEND, "--threads", "1",
                      "--max-connections", "15000", "--close-timeout", "1"]) as upstream, \
            Server(BIN, proxy_args(px, up, *spread, "--max-connections", "15000"),
                   wait_lines=1) as proxy:
        procs = [proxy.pid] if direct else proxy.children()
        check(direct or len(procs) == 2, f"proxy workers {procs}")
        baseline = descriptors(procs)
        with wsload_runner.JsonReport("wsload-proxy.") as report:
            load = subprocess.Popen(
                [WSLOAD, "--url", f"ws://127.0.0.1:{px}/", "--mode", "idle", "-c", str(N_SCALE),
                 "--idle-message", "-s", "1024", "-t", "1", "--ping-interval", "30",
                 "--connect-timeout", "40", "--no-progress", "--json", report.path,
                 "--ready-file", report.ready],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            held = None
            deadline = time.monotonic() + 60
            while load.poll() is None and time.monotonic() < deadline:
                if held is None and os.path.exists(report.ready):
                    held = descriptors(procs)  # all 10 000 up
                time.sleep(0.05)
            try:
                _, err = load.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                load.kill()
                _, err = load.communicate()
            eq(load.returncode, 0, f"wsload exit status; stderr {err[-400:]!r}")
            d = report.load()
        print(f"     proxy descriptors: {baseline} before, {held} with all up", flush=True)
        if direct:
            check(held is not None and held < baseline + 100,
                  f"direct descriptors: {held} descriptors with {N_SCALE} tunnels up")
        print(f"     {d['peak_up']} up at once (byte-checked echoes), bring-up {d['bringup_s']:.1f} s, "
              f"errors {d['errors_total']} ({d['errors']['close_timeout']} close_timeout)", flush=True)
        # wsload gives the closing handshakes of all 10 000 three seconds
        # overall (close_timeout counts those still closing then, which a
        # loaded machine may not finish); what must hold is that every
        # tunnel ends: the workers' descriptors go back to what they were.
        errors = {k: v for k, v in d["errors"].items() if v and k != "close_timeout"}
        eq(errors, {}, "wsload errors other than close_timeout")
        eq(d["peak_up"], N_SCALE, "proxied connections up at once, each with its echo verified")
        deadline = time.monotonic() + 20
        while descriptors(procs) > baseline and time.monotonic() < deadline:
            time.sleep(0.2)
        eq(descriptors(procs), baseline, "proxy descriptors after every client left")
        check(upstream.proc.poll() is None and proxy.proc.poll() is None, "a server exited")


def descriptors(pids):
    return sum(len(os.listdir(f"/proc/{p}/fd")) for p in pids)


def read_status(c, timeout):
    c.sock.settimeout(timeout)
    status, _, _ = wsraw.read_http_response(c)
    return status


def out_of_descriptors():
    up, px = free_port(), free_port()
    with Server(BIN, ["--listen", f"127.0.0.1:{up}", "--backend", BACKEND, "--threads", "1"]), \
            Server("/usr/bin/prlimit", [f"--nofile={FD_LIMIT}:{FD_LIMIT}", BIN,
                                        *proxy_args(px, up, "--handshake-timeout", "30")]) as proxy:
        # A client without a request head holds one descriptor: closing it
        # below frees exactly one, so that whatever the parity of the
        # process's own descriptors, a client is accepted and then finds no
        # descriptor for its upstream (instead of waiting in the backlog).
        filler = wsraw.Conn(port=px)
        tunnels = []
        status = None
        try:
            for _ in range(FD_LIMIT):
                c = wsraw.Conn(port=px)
                c.send(wsraw.build_upgrade("/", host=f"127.0.0.1:{px}"))
                try:
                    status = read_status(c, 1.5)
                except wsraw.Failure:  # accept paused: the proxy's descriptors are all taken
                    filler.close()
                    filler = None
                    status = read_status(c, 5)
                if status != 101:
                    c.close()
                    break
                tunnels.append(c)
            eq(status, 503, f"status once descriptors ran out (after {len(tunnels)} tunnels)")
            check(len(tunnels) >= 10, f"only {len(tunnels)} tunnels before running out")
            log = proxy.wait_for(lambda t: "no descriptor for an upstream connection" in t, 5,
                                 "the out-of-descriptors line")
            line = next(x for x in log.splitlines() if "no descriptor" in x)
            check(f"RLIMIT_NOFILE {FD_LIMIT}" in line and "--workers" in line, f"log line {line!r}")
            check("no server reachable" not in log, "logged as an unreachable server")
            # Tunnels still relay, and closing two makes room for a new one.
            tunnels[0].send_msg(0x2, b"still relayed")
            eq(tunnels[0].read_message()[1], b"still relayed", "echo through an open tunnel")
            for c in tunnels[-2:]:
                c.close()
            tunnels = tunnels[:-2]
            deadline = time.monotonic() + 5
            while True:
                c = wsraw.Conn(port=px)
                try:
                    c.send(wsraw.build_upgrade("/", host=f"127.0.0.1:{px}"))
                    if read_status(c, 5) == 101:
                        tunnels.append(c)
                        break
                finally:
                    if c not in tunnels:
                        c.close()
                check(time.monotonic() < deadline, "no tunnel again after two closed")
                time.sleep(0.2)
        finally:
            for c in tunnels:
                c.close()
            if filler is not None:
                filler.close()


def direct_descriptors_refused():
    rc, _, err = run_flags(BIN, ["--mode", "proxy", "--backend", "epoll", "--direct-descriptors",
                                 "--upstream", "e=127.0.0.1:1", "--route", "/=e"])
    eq(rc, 2, f"exit status; stderr {err!r}")
    check("--direct-descriptors needs io_uring" in err and "--workers" in err, f"message {err!r}")


if not wsload_runner.available(WSLOAD):
    suite.skip(f"{N_SCALE} proxied connections byte-checked", f"no wsload at {WSLOAD}")
else:
    suite.run(f"{N_SCALE} proxied connections byte-checked (--workers 2)", ten_thousand, False)
    if BACKEND == "io_uring":
        suite.run(f"{N_SCALE} proxied connections byte-checked, one process "
                  "(--direct-descriptors --threads 2)", ten_thousand, True)
suite.run(f"out of descriptors (RLIMIT_NOFILE {FD_LIMIT}): 503, log line, serves again",
          out_of_descriptors)
suite.run("--direct-descriptors with epoll refused in proxy mode, naming --workers",
          direct_descriptors_refused)
suite.finish()
