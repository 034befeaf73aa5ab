#!/usr/bin/python3
"""TLS certificates reloaded with --workers 2 (each worker a process of its
own, forked from the parent).

  test_tls_workers.py WSGATE_BINARY BACKEND [CASE-FILTER...]

- SIGHUP to the parent: it passes the signal to both workers, each reads the
  certificate and key files again; then 12 new connections (spread over both
  workers by SO_REUSEPORT, checked through each worker's descriptors) all get
  the new certificate (python ssl, getpeercert(binary_form=True) against the
  new leaf's DER), and a wss connection opened on each worker before the
  reload keeps echoing.
- a worker that dies after the reload is restarted by the parent: its
  handshakes get the new certificate too, not the one the parent started
  with, and it applies the configuration file's live keys as reloaded
  (max-request-head-bytes lowered: a 3 KiB request head gets 431 on both
  workers).
"""

import asyncio
import os
import shutil
import signal
import socket
import ssl
import sys
import time

import websockets

import wsraw
from tls_certs import TestPki
from wsgate_proc import Server, free_port
from wsraw import check, eq

if len(sys.argv) < 3:
    print("usage: test_tls_workers.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("tls_workers")

pki = TestPki()
FIRST, FIRST_KEY = pki.leaf("localhost", ["DNS:localhost", "IP:127.0.0.1"], "ec")
SECOND, SECOND_KEY = pki.leaf("localhost-b", ["DNS:localhost", "IP:127.0.0.1"], "ec")
CERT, KEY = os.path.join(pki.dir, "served.pem"), os.path.join(pki.dir, "served.key")
CONFIG = os.path.join(pki.dir, "wsgate.toml")
PORT = free_port()
NEW_CONNECTIONS = 12
FOOTER = "-----END CERTIFICATE-----"


def leaf_der(chain):
    """The first certificate of a PEM chain file (the leaf), DER."""
    with open(chain) as f:
        text = f.read()
    end = text.index(FOOTER) + len(FOOTER)
    return ssl.PEM_cert_to_DER_cert(text[:end])


def context():
    return ssl.create_default_context(cafile=pki.ca)


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def served_certificate():
    """The leaf certificate (DER) a new handshake gets; the connection stays
    open (returned) so the worker that took it can be told by its fds."""
    raw = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    s = context().wrap_socket(raw, server_hostname="localhost")
    return s.getpeercert(binary_form=True), s


def workers_of(srv):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        kids = srv.children()
        if len(kids) == 2:
            return kids
        time.sleep(0.05)
    raise wsraw.Failure(f"workers: {srv.children()}")


def handshakes_on_both(srv, want, what):
    """NEW_CONNECTIONS handshakes, all with certificate `want`, taken by both
    workers (each one's descriptor count grows)."""
    workers = workers_of(srv)
    before = {w: fd_count(w) for w in workers}
    held = []
    try:
        for i in range(NEW_CONNECTIONS):
            der, s = served_certificate()
            held.append(s)
            check(der == want, f"{what}: handshake {i} got the other certificate")
        time.sleep(0.2)
        grew = {w: fd_count(w) - before[w] for w in workers}
        check(all(n > 0 for n in grew.values()), f"{what}: new connections per worker {grew}: "
              "both workers should have taken some")
    finally:
        for s in held:
            s.close()


async def open_on_each_worker(srv):
    """A wss connection on each worker (opened until both have one)."""
    workers = workers_of(srv)
    got, spare = {}, []
    for _ in range(40):
        before = {w: fd_count(w) for w in workers}
        ws = await websockets.connect(f"wss://localhost:{PORT}/", ssl=context(), open_timeout=5,
                                      ping_interval=None)
        await asyncio.sleep(0.05)
        on = [w for w in workers if fd_count(w) > before[w]]
        if len(on) == 1 and on[0] not in got:
            got[on[0]] = ws
        else:
            spare.append(ws)
        if len(got) == 2:
            break
    for ws in spare:
        await ws.close()
    check(len(got) == 2, f"a connection on each worker: got {len(got)}")
    return list(got.values())


async def reload_case(srv):
    eq(leaf_der(FIRST), served_certificate()[0], "the first certificate before the reload")
    conns = await open_on_each_worker(srv)
    for i, ws in enumerate(conns):
        await ws.send(f"before {i}")
        eq(await asyncio.wait_for(ws.recv(), 5), f"before {i}", "echo before the reload")
    shutil.copy(SECOND, CERT)
    shutil.copy(SECOND_KEY, KEY)
    write_config(2048)
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for(lambda log: log.count("TLS certificates: ECDSA localhost") >= 2, 5,
                 "both workers' reload lines")
    handshakes_on_both(srv, leaf_der(SECOND), "after SIGHUP")
    for i, ws in enumerate(conns):
        await ws.send(f"after {i}")
        eq(await asyncio.wait_for(ws.recv(), 5), f"after {i}",
           f"connection {i} opened before the reload still echoes")
        await ws.close()
        eq(ws.close_code, 1000, "close code")


def settled_fd_counts(workers):
    """Each worker's descriptor count once the connections closed before have
    been let go (the same twice, 0.2 s apart; at most 3 s)."""
    counts = {w: fd_count(w) for w in workers}
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = {w: fd_count(w) for w in workers}
        if now == counts:
            break
        counts = now
    return counts


def write_config(head_bytes):
    with open(CONFIG, "w") as f:
        f.write(f"max-request-head-bytes = {head_bytes}\n")


def large_heads_refused_on_both(srv, what):
    """NEW_CONNECTIONS TLS connections, taken by both workers, each sending a
    request head of about 3 KiB: 431 on every one."""
    workers = workers_of(srv)
    before = settled_fd_counts(workers)
    held = [served_certificate()[1] for _ in range(NEW_CONNECTIONS)]
    try:
        time.sleep(0.2)
        grew = {w: fd_count(w) - before[w] for w in workers}
        check(all(n > 0 for n in grew.values()), f"{what}: new connections per worker {grew}: "
              "both workers should have taken some")
        for i, s in enumerate(held):
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"a" * 3000 +
                      b"\r\n\r\n")
            s.settimeout(5)
            status = s.recv(64).split(b"\r\n")[0]
            eq(status, b"HTTP/1.1 431 Request Header Fields Too Large",
               f"{what}: connection {i}'s 3 KiB head")
    finally:
        for s in held:
            s.close()


def restarted_worker(srv):
    victim = workers_of(srv)[0]
    os.kill(victim, signal.SIGKILL)
    srv.wait_for(lambda log: "serves again" in log, 10, "the restarted worker")
    deadline = time.monotonic() + 5
    while victim in srv.children() or len(srv.children()) != 2:
        check(time.monotonic() < deadline, "the worker was not replaced")
        time.sleep(0.05)
    handshakes_on_both(srv, leaf_der(SECOND), "after a worker restart")
    large_heads_refused_on_both(srv, "after a worker restart")


shutil.copy(FIRST, CERT)
shutil.copy(FIRST_KEY, KEY)
write_config(8192)
FLAGS = ["--config", CONFIG, "--backend", BACKEND, "--workers", "2", "--threads", "1",
         "--listen", f"127.0.0.1:{PORT},tls", "--tls-cert", CERT, "--tls-key", KEY]
with Server(BIN, FLAGS) as srv:
    suite.run("SIGHUP: both workers serve the new certificate, open connections kept",
              lambda: asyncio.run(reload_case(srv)))
    suite.run("a worker restarted after the reload serves the new certificate and the reloaded "
              "configuration",
              restarted_worker, srv)
    suite.run("SIGTERM: exit 0", lambda: eq(srv.terminate(10), 0, "exit status"))
pki.remove()
suite.finish()
