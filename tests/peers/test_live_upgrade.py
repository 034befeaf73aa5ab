#!/usr/bin/python3
"""Live upgrade (SIGUSR2, POST /admin/upgrade): the new process takes the
listening sockets and every open WebSocket connection; clients see nothing.

  test_live_upgrade.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Each case runs wsgate from a copy of the binary in a directory of its own
(upgrade_proc.Gateway).

WSGATE_UPGRADE_LOAD_CONNECTIONS (default 1000) sets the load case's size;
the by-hand run for docs/live-upgrade.md uses 10000.
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import upgrade_proc
import wsraw
from upgrade_proc import wait_exit
from wsgate_proc import free_port
from wsraw import OP_BINARY, OP_TEXT, Conn, check, eq, frame

if len(sys.argv) < 3:
    print("usage: test_live_upgrade.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = os.path.abspath(sys.argv[1]), sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("live_upgrade")
HERE = os.path.dirname(os.path.abspath(__file__))
WSLOAD = os.path.join(os.path.dirname(BIN), "..", "..", "bench", "wsload")
LOAD_CONNECTIONS = int(os.environ.get("WSGATE_UPGRADE_LOAD_CONNECTIONS", "1000"))

DEFLATE_OFFER = ("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                 "client_no_context_takeover")
TAKEOVER_OFFER = "Sec-WebSocket-Extensions: permessage-deflate"
WIRE_VERSION = 3  # gateway/handover_wire.hpp kVersion


def Gateway(extra=(), admin=False):
    return upgrade_proc.Gateway(BIN, BACKEND, extra, admin)


def connect(gw, extra=()):
    """An upgraded connection; with an offer in `extra`, deflate must be agreed."""
    c = Conn(port=gw.port, timeout=10)
    key = wsraw.new_key()
    c.send(wsraw.build_upgrade("/", key, f"127.0.0.1:{gw.port}", extra))
    head = c.read_http_head()
    ext = re.search(rb"\r\nSec-WebSocket-Extensions: ([^\r]*)", head, re.I)
    wsraw.check_101(head, key, ext.group(1).decode() if ext else None)
    if extra:
        check(ext is not None and b"permessage-deflate" in ext.group(1), f"deflate agreed: {head!r}")
    return c


# ---- cases ----

def no_refusal_while_upgrading():
    """A client connecting in a loop sees no refusal across two upgrades
    (the second through POST /admin/upgrade)."""
    with Gateway(admin=True) as gw:
        stop = threading.Event()
        counts = {"ok": 0, "failed": 0, "errors": []}

        def loop():
            while not stop.is_set():
                try:
                    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:
                        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        data = b""
                        while not data.endswith(b"ok\n"):
                            chunk = s.recv(4096)
                            if not chunk:
                                break
                            data += chunk
                        if data.startswith(b"HTTP/1.1 200") and data.endswith(b"ok\n"):
                            counts["ok"] += 1
                        else:
                            counts["failed"] += 1
                            counts["errors"].append(data[:80])
                except OSError as e:
                    counts["failed"] += 1
                    counts["errors"].append(repr(e))

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        time.sleep(0.3)
        gw.upgrade("signal")
        first = counts["ok"]
        gw.upgrade("post")
        time.sleep(0.3)
        stop.set()
        t.join(10)
        eq(counts["failed"], 0, f"refused or broken requests ({counts['errors'][:3]})")
        check(counts["ok"] > first > 0, f"requests served throughout ({counts})")
        print(f"     {counts['ok']} requests, 0 refused, across 2 upgrades", flush=True)


def connections_carry_on():
    """Open connections (plain and deflate without context takeover, one with
    half a frame sent and one with an unanswered ping of ours) keep echoing
    through two upgrades; a fresh client is served by the new process."""
    with Gateway() as gw:
        plain = [connect(gw) for _ in range(8)]
        deflated = [connect(gw, (DEFLATE_OFFER,)) for _ in range(4)]
        everyone = plain + deflated
        for i, c in enumerate(everyone):
            c.echo(OP_TEXT, f"before {i}")
        # Half a frame in, the rest after the upgrade has begun: the
        # connection moves once its message is complete.
        half = plain[0]
        whole = frame(OP_BINARY, bytes(range(256)) * 8)
        half.send(whole[:700])
        os.kill(gw.pid, signal.SIGUSR2)
        time.sleep(0.3)
        half.send(whole[700:])
        op, got = half.read_message()
        eq((op, got), (OP_BINARY, bytes(range(256)) * 8), "the message split across the upgrade")
        text = gw.wait_for(lambda log: " took " in log, 20, "the handover")
        new = int(re.findall(r"upgrade: started \S+ as process (\d+)", text)[-1])
        gw.pids.append(new)
        eq(wait_exit(gw.pid, 10), 0, "the old process's exit status")
        gw.pid = new
        check(f"process {new} took 12 connections" in gw.log(), f"12 taken: {gw.log()[-400:]!r}")
        for i, c in enumerate(everyone):
            c.echo(OP_TEXT, f"after one {i}")
        eq(gw.upgrade(), 12, "connections taken by the third process")
        for i, c in enumerate(everyone):
            c.echo(OP_BINARY, f"after two {i}".encode() * 3)
        fresh = connect(gw)
        fresh.echo(OP_TEXT, "new client")
        for c in everyone + [fresh]:
            c.close()


def context_takeover_closed():
    """A connection keeping a compression context cannot move exactly: it is
    closed 1001 at once; a plain one beside it moves."""
    with Gateway(("--deflate-no-context-takeover", "none")) as gw:
        kept = connect(gw, (TAKEOVER_OFFER,))
        plain = connect(gw)
        plain.echo(OP_TEXT, "x")
        eq(gw.upgrade(), 1, "connections taken")
        kept.expect_close(1001)
        plain.echo(OP_TEXT, "still here")
        plain.close()


def stuck_mid_frame_closed_after_timeout():
    """--upgrade-timeout 1: a connection stuck inside a frame is closed 1001
    after it; the others move and the old process exits 0."""
    with Gateway(("--upgrade-timeout", "1")) as gw:
        stuck = connect(gw)
        fine = connect(gw)
        stuck.send(frame(OP_TEXT, b"x" * 1000)[:300])
        t0 = time.monotonic()
        eq(gw.upgrade(), 1, "connections taken")
        stuck.expect_close(1001)
        check(time.monotonic() - t0 < 6, "closed within the timeout and the close timeout")
        check("1 closed with 1001" in gw.log(), "the old process counted it")
        fine.echo(OP_TEXT, "moved")
        fine.close()


def failed_binary_carries_on():
    """A broken binary at the path (exits 3), then none at all: the old
    process logs why and carries on serving its connections and new ones;
    the binary put back, the upgrade works."""
    with Gateway() as gw:
        c = connect(gw)
        saved = gw.path + ".good"
        os.rename(gw.path, saved)
        with open(gw.path, "w") as f:
            f.write("#!/bin/sh\nexit 3\n")
        os.chmod(gw.path, 0o755)
        line = gw.upgrade_fails()
        check("exited with status 3" in line, f"the reason: {line!r}")
        c.echo(OP_TEXT, "still served")
        os.unlink(gw.path)
        line = gw.upgrade_fails()
        check("No such file or directory" in line, f"the reason: {line!r}")
        with connect(gw) as fresh:
            fresh.echo(OP_TEXT, "new client, old process")
        os.rename(saved, gw.path)
        eq(gw.upgrade(), 1, "connections taken")
        c.echo(OP_TEXT, "moved")
        c.close()


def tls_connection_closed():
    """A TLS session (keys and record sequence numbers inside OpenSSL) cannot
    move: closed 1001 over TLS; a plain connection beside it moves, and the
    TLS listener moves too (a new TLS client is served by the new process)."""
    from tls_certs import TestPki
    pki = TestPki()
    leaf, leaf_key = pki.leaf("localhost", ["DNS:localhost", "IP:127.0.0.1"], "ec")
    tls_port = free_port()
    ctx = ssl.create_default_context(cafile=pki.ca)

    def tls_connect():
        c = Conn.__new__(Conn)
        raw = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
        c.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        c.buf, c.pos, c.port = bytearray(), 0, tls_port
        c.handshake()
        return c

    with Gateway(("--listen", f"127.0.0.1:{tls_port},tls", "--tls-cert", leaf, "--tls-key",
                  leaf_key)) as gw:
        secure = tls_connect()
        secure.echo(OP_TEXT, "over TLS")
        plain = connect(gw)
        eq(gw.upgrade(), 1, "connections taken")
        secure.expect_close(1001)
        plain.echo(OP_TEXT, "moved")
        with tls_connect() as fresh:
            fresh.echo(OP_TEXT, "TLS, new process")
        plain.close()


def other_wire_version_refused():
    """A process speaking another version of the handover records (here an
    old process's version 1 listeners record) is refused cleanly: the new
    process answers 'refused', closes what came with it and exits 1."""
    import struct
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    d = tempfile.mkdtemp(prefix="wsgate-upgrade.")
    try:
        env = dict(os.environ, WSGATE_HANDOVER_FD=str(theirs.fileno()))
        with open(os.path.join(d, "stderr.log"), "wb") as err:
            p = subprocess.Popen([BIN, "--listen", f"127.0.0.1:{free_port()}", "--backend",
                                  BACKEND, "--threads", "1"], stdout=err, stderr=err,
                                 stdin=subprocess.DEVNULL, env=env, pass_fds=(theirs.fileno(),))
        theirs.close()
        ours.settimeout(10)
        magic, version, kind, _, value = struct.unpack("<IHHII", ours.recv(65536)[:16])
        eq((magic, version, kind, value), (0x55475357, WIRE_VERSION, 1, p.pid),
           "the new process's hello")
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen()
        entry = struct.pack("<HHB3x", 0, 0, 0)
        ours.sendmsg([struct.pack("<IHHII", 0x55475357, 1, 2, 1, 1) + entry],
                     [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", lsock.fileno()))])
        answer = ours.recv(65536)
        magic, version, kind, count, _ = struct.unpack("<IHHII", answer[:16])
        eq((version, kind), (WIRE_VERSION, 7), "a 'refused' record")
        eq(p.wait(timeout=10), 1, "the new process's exit status")
        with open(os.path.join(d, "stderr.log"), "rb") as f:
            log = f.read().decode()
        check("cannot take over" in log, f"its log line: {log!r}")
        print(f"     refused: {answer[16:16 + count].decode()!r}", flush=True)
        lsock.close()
    finally:
        ours.close()
        shutil.rmtree(d, ignore_errors=True)


def under_load_twice():
    """wsload echo clients (half plain, half deflate without context
    takeover), every echoed byte checked, upgraded twice in a row: no close,
    no mismatch, no error; descriptors and RSS of each process recorded."""
    if not os.path.exists(WSLOAD):
        raise wsraw.Failure(f"no {WSLOAD}: build bench/wsload")
    n = LOAD_CONNECTIONS
    duration = 10 if n <= 2000 else 25
    with Gateway(("--idle-timeout", "60")) as gw:
        runs = []
        for name, extra in (("plain", []),
                            ("deflate", ["--deflate-params",
                                         "server_no_context_takeover; client_no_context_takeover",
                                         "--payload-kind", "json", "-s", "300"])):
            out = os.path.join(gw.dir, f"{name}.json")
            cmd = [WSLOAD, "--url", f"ws://127.0.0.1:{gw.port}/", "-c", str(n // 2), "-t",
                   str(duration), "--warmup", "0.5", "--json", out, "--no-progress",
                   "--connect-timeout", "30"] + extra
            runs.append((name, out, subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                                     stderr=subprocess.PIPE)))
        stats = upgrade_proc.upgrade_twice_under_load(gw, n, n)
        for name, out, p in runs:
            try:
                _, err = p.communicate(timeout=duration + 60)
            except subprocess.TimeoutExpired:
                p.kill()
                raise wsraw.Failure(f"wsload {name} did not finish")
            with open(out) as f:
                r = json.load(f)
            eq(r["errors_total"], 0, f"wsload {name} errors {r['errors']}")
            eq(r["up_at_end"], n // 2, f"wsload {name} connections up at the end")
            check(r["messages"] > 0, f"wsload {name} echoed messages")
            stats.append(f"wsload {name}: {r['up_at_end']}/{r['connections']} up at the end, "
                         f"{r['messages']} messages echoed and checked, "
                         f"{r['wire']['payload_bytes']} payload bytes, errors 0")
        for s in stats:
            print(f"     {s}", flush=True)


suite.run("no refusal while upgrading (SIGUSR2, then POST /admin/upgrade)",
          no_refusal_while_upgrading)
suite.run("connections carry on through two upgrades", connections_carry_on)
suite.run("context takeover connection closed 1001", context_takeover_closed)
suite.run("stuck mid-frame: closed 1001 after --upgrade-timeout", stuck_mid_frame_closed_after_timeout)
suite.run("TLS connection closed 1001, TLS listener moves", tls_connection_closed)
suite.run("broken or missing binary: the old process carries on", failed_binary_carries_on)
suite.run("another handover record version: refused, exit 1", other_wire_version_refused)
suite.run(f"under load: {LOAD_CONNECTIONS} echo connections, two upgrades", under_load_twice)
suite.finish()
