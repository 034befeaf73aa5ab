#!/usr/bin/python3
"""TLS listeners (--listen ADDR:PORT,tls), on instances this suite starts.

  test_tls.py WSGATE_BINARY BACKEND [CASE-FILTER...]

A test PKI is made at start with the openssl CLI (tls_certs.py): root CA,
intermediate CA, an ECDSA leaf for localhost/127.0.0.1 and an RSA leaf for
other.test, each served with its chain; clients trust the root only.
- python-websockets over ssl: echo of 0 B .. 1 MiB, text and binary,
  permessage-deflate negotiated, close 1000; Node `ws` with `ca:` likewise;
- curl --cacert: GET /healthz over https (HTTP/1.1 via ALPN), the plain
  listener beside it still plain;
- openssl s_client: TLS 1.2 and 1.3 accepted, TLS 1.0 and 1.1 refused with a
  protocol_version alert; ALPN http/1.1 chosen, h2 alone refused
  (no_application_protocol); SNI picks the certificate (other.test: the RSA
  one, localhost or no name: the default);
- bad input, each closed with one log line: plain HTTP (a plain 400 saying
  the port speaks TLS), garbage, a silent client and a ClientHello cut short
  (--handshake-timeout 1), a TLS 1.2 renegotiation;
- tshark on lo decodes the handshake; with the SSLKEYLOGFILE python wrote,
  the 101 and every WebSocket frame inside the records (none without it);
- resumption: TLS 1.3 ticket (-sess_out/-sess_in) and TLS 1.2 -reconnect are
  resumed, counted in /metrics (wsgate_tls_handshakes_total{kind="resumed"});
  with --tls-ticket-key-rotation 1 a ticket resumes in the next period and
  not after two;
- kernel TLS: each TLS listener logs what it uses from the tcp_available_ulp
  probe ("kTLS: tx+rx" or "user-space TLS (no tls ULP; ...)"); close_notify
  both ways (ssl unwrap) after the session may have gone to the kernel;
  where the tls ULP exists, the kernel carries the records (/proc/net/
  tls_stat grows, wsgate_tls_kernel_total{outcome="switched"} counts them):
  echo 0 B..1 MiB over TLS 1.3 and 1.2 - skipped, visibly ("skipped: no
  kernel tls"), where it does not; the fallback: --tls-kernel always on a
  host without the ULP tries each session, is refused at setsockopt
  (one line), keeps the connection in user space and it still echoes;
  --tls-kernel off prepares nothing;
- idle cost: server RSS per idle TLS WebSocket connection (printed; under
  32 KiB: record buffers of quiet connections are given back);
- SIGHUP: the certificate and key files are read again (new handshakes get
  the new certificate, an open wss connection keeps echoing); a bad key file
  keeps the certificate in use, with one line;
- start-up: a TLS listener without a certificate, an unreadable certificate
  and a key that does not match it are refused with one line.
"""

import asyncio
import math
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

import websockets

import wsraw
from tls_certs import TestPki
from wsgate_proc import Server, free_port, rss_kib, run_flags
from wsraw import check, eq

if len(sys.argv) < 3:
    print("usage: test_tls.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
HERE = os.path.dirname(os.path.abspath(__file__))
suite = wsraw.Suite("tls")

pki = TestPki()
LEAF, LEAF_KEY = pki.leaf("localhost", ["DNS:localhost", "IP:127.0.0.1"], "ec")
OTHER, OTHER_KEY = pki.leaf("other.test", ["DNS:other.test", "DNS:*.other.test"], "rsa")

TLS_PORT, PLAIN_PORT, ADMIN_PORT = free_port(), free_port(), free_port()
FLAGS = ["--backend", BACKEND, "--threads", "2", "--handshake-timeout", "1",
         "--close-timeout", "2", "--idle-timeout", "30",
         "--listen", f"127.0.0.1:{TLS_PORT},tls", "--listen", f"127.0.0.1:{PLAIN_PORT}",
         "--admin-listen", f"127.0.0.1:{ADMIN_PORT}",
         "--tls-cert", LEAF, "--tls-key", LEAF_KEY, "--tls-cert", OTHER, "--tls-key", OTHER_KEY]


def s_client(*args, stdin=b"", timeout=10):
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{TLS_PORT}",
                        "-CAfile", pki.ca, *args], input=stdin, capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("latin-1") + p.stderr.decode("latin-1")


def failure_lines(srv, reason):
    return len(re.findall(r"^wsgate: TLS fd \d+ closed: " + re.escape(reason), srv.log(), re.M))


def quiet_log():
    """Failure lines are throttled to one a second per loop (a peer can cause
    them at any rate): a case that counts its own line waits for that
    second to pass first."""
    time.sleep(1.1)


def expect_one_line(srv, reason, before):
    """The log gains exactly one line for `reason` (lines are throttled to
    one a second: the cases wait for theirs)."""
    srv.wait_for(lambda _: failure_lines(srv, reason) > before, 3, f"a '{reason}' line")
    time.sleep(0.2)
    eq(failure_lines(srv, reason), before + 1, f"log lines for '{reason}'")


def metric(name, labels, port=None):
    with urllib.request.urlopen(f"http://127.0.0.1:{port or ADMIN_PORT}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(r"^" + re.escape(name + labels) + r" (\d+)$", text, re.M)
    check(m, f"no {name}{labels} in /metrics")
    return int(m.group(1))


def read_until_closed(sock, timeout):
    """Everything the server sends until it closes; raises on timeout."""
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


async def python_echo(port=None, max_version=None):
    ctx = ssl.create_default_context(cafile=pki.ca)
    if max_version is not None:
        ctx.maximum_version = max_version
    port = port or TLS_PORT
    async with websockets.connect(f"wss://localhost:{port}/", ssl=ctx, compression="deflate",
                                  open_timeout=5, close_timeout=5, ping_interval=None,
                                  max_size=None) as ws:
        check("permessage-deflate" in ws.response_headers.get("Sec-WebSocket-Extensions", ""),
              "permessage-deflate negotiated over TLS")
        eq(ws.transport.get_extra_info("ssl_object").selected_alpn_protocol(), None,
           "python-websockets offers no ALPN")
        for n in (0, 1, 125, 126, 16 * 1024, 70000, 1 << 20):
            msg = os.urandom(n)
            await ws.send(msg)
            eq(await asyncio.wait_for(ws.recv(), 10), msg, f"binary echo of {n} bytes")
        text = "ü ☃ 𝄞 " * 3000
        await ws.send(text)
        eq(await asyncio.wait_for(ws.recv(), 10), text, "text echo (compressible)")
        # A burst: many messages queued in one turn go out as few records.
        msgs = [f"burst {i}" for i in range(500)]
        for m in msgs:
            await ws.send(m)
        for m in msgs:
            eq(await asyncio.wait_for(ws.recv(), 10), m, "burst echo in order")
    eq(ws.close_code, 1000, "close code over TLS")


def node_echo():
    p = subprocess.run(["node", os.path.join(HERE, "tls_node_client.mjs"),
                        f"wss://localhost:{TLS_PORT}/", pki.ca], capture_output=True, timeout=20,
                       cwd=HERE)
    out = p.stdout.decode()
    eq(out.splitlines(), ["echo same", "extensions permessage-deflate", "close 1000"],
       f"node ws over TLS (stderr {p.stderr.decode()[-300:]!r})")


def curl_https():
    for host in ("localhost", "127.0.0.1"):
        p = subprocess.run(["curl", "-sS", "-v", "--cacert", pki.ca,
                            f"https://{host}:{TLS_PORT}/healthz"], capture_output=True,
                           timeout=10)
        eq((p.returncode, p.stdout), (0, b"ok\n"), f"curl https://{host}/healthz")
        err = p.stderr.decode()
        check("ALPN: server accepted http/1.1" in err or "ALPN, server accepted to use http/1.1"
              in err, f"ALPN http/1.1 in curl's log: {err[-600:]!r}")
    p = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{PLAIN_PORT}/healthz"],
                       capture_output=True, timeout=10)
    eq((p.returncode, p.stdout), (0, b"ok\n"), "the plain listener beside it")


def versions_accepted():
    for flag, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        rc, out = s_client(flag, "-servername", "localhost", "-verify_return_error")
        eq(rc, 0, f"s_client {flag} exit status: {out[-400:]!r}")
        check(re.search(r"Protocol\s*:\s*" + re.escape(name), out) or f"New, {name}" in out,
              f"{name} negotiated: {out[-600:]!r}")
        check("Verify return code: 0 (ok)" in out, f"chain verified with {flag}")


def versions_refused(srv):
    for flag in ("-tls1", "-tls1_1"):
        quiet_log()
        before = failure_lines(srv, "unsupported protocol")
        rc, out = s_client(flag, "-cipher", "DEFAULT:@SECLEVEL=0")
        check(rc != 0, f"s_client {flag} must fail")
        check("alert protocol version" in out, f"protocol_version alert for {flag}: "
              f"{out[-400:]!r}")
        expect_one_line(srv, "unsupported protocol", before)


def alpn():
    rc, out = s_client("-alpn", "http/1.1")
    eq(rc, 0, "s_client -alpn http/1.1")
    check("ALPN protocol: http/1.1" in out, f"http/1.1 chosen: {out[-400:]!r}")
    rc, out = s_client("-alpn", "h2,http/1.1")
    check("ALPN protocol: http/1.1" in out, "http/1.1 chosen from h2,http/1.1")
    rc, out = s_client("-alpn", "h2")
    check(rc != 0 and "no application protocol" in out,
          f"h2 alone refused with no_application_protocol: {out[-400:]!r}")


def sni():
    for name, want in (("other.test", "CN = other.test"), ("a.other.test", "CN = other.test"),
                       ("localhost", "CN = localhost"), (None, "CN = localhost"),
                       ("unknown.example", "CN = localhost")):
        args = ["-servername", name] if name else ["-noservername"]
        rc, out = s_client(*args)
        eq(rc, 0, f"s_client SNI {name}")
        m = re.search(r"^subject=(.*)$", out, re.M)
        check(m and want in m.group(1), f"SNI {name}: certificate {m and m.group(1)!r}")
    rc, out = s_client("-servername", "other.test", "-tls1_2")
    check("Server public key is 2048 bit" in out, "other.test is the RSA 2048 certificate")


def plain_http(srv):
    quiet_log()
    before = failure_lines(srv, "http request")
    with socket.create_connection(("127.0.0.1", TLS_PORT), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = read_until_closed(s, 3)
    check(data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), f"plain 400: {data[:80]!r}")
    check(data.endswith(b"this port speaks TLS: use https:// or wss://\n"), "the body says why")
    expect_one_line(srv, "http request", before)


def garbage(srv):
    quiet_log()
    before = len(re.findall(r"^wsgate: TLS fd \d+ closed: ", srv.log(), re.M))
    with socket.create_connection(("127.0.0.1", TLS_PORT), timeout=5) as s:
        s.sendall(bytes(range(256)) * 4)
        t = time.monotonic()
        read_until_closed(s, 3)
        check(time.monotonic() - t < 2, "closed at once")
    srv.wait_for(lambda log: len(re.findall(r"^wsgate: TLS fd \d+ closed: ", log, re.M)) > before,
                 3, "a TLS failure line")
    eq(len(re.findall(r"^wsgate: TLS fd \d+ closed: ", srv.log(), re.M)), before + 1,
       "one line for the garbage")


def stalled(srv, first_bytes):
    quiet_log()
    reason = "TLS handshake not completed in time"
    before = failure_lines(srv, reason)
    with socket.create_connection(("127.0.0.1", TLS_PORT), timeout=5) as s:
        if first_bytes:
            s.sendall(first_bytes)
        t = time.monotonic()
        read_until_closed(s, 5)
        took = time.monotonic() - t
    check(0.8 <= took <= 2.5, f"closed after the 1 s handshake timeout (took {took:.2f} s)")
    expect_one_line(srv, reason, before)


def client_hello_start():
    """The first bytes of a real ClientHello (taken from python's ssl)."""
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    check(len(hello) > 100, "a ClientHello")
    return hello[:60]


def renegotiation(srv):
    quiet_log()
    before = failure_lines(srv, "renegotiation refused")
    p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{TLS_PORT}", "-tls1_2",
                          "-CAfile", pki.ca], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        p.stdin.write(b"R\n")
        p.stdin.flush()
        out, _ = p.communicate(timeout=5)  # the server closes: s_client ends
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    check(b"RENEGOTIATING" in out, f"s_client renegotiated: {out[-300:]!r}")
    expect_one_line(srv, "renegotiation refused", before)


HTTP_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def ticket_resumed(session_file, port_args=()):
    rc, out = s_client("-tls1_3", "-sess_out", session_file, "-ign_eof", stdin=HTTP_REQUEST)
    eq(rc, 0, f"first connection: {out[-300:]!r}")
    check("New, TLSv1.3" in out, "a full handshake first")
    check(os.path.getsize(session_file) > 0, "a ticket was received")
    renewed = session_file + ".renewed"
    rc, out = s_client("-tls1_3", "-sess_in", session_file, "-sess_out", renewed, "-ign_eof",
                       stdin=HTTP_REQUEST)
    eq(rc, 0, "second connection")
    if "Reused, TLSv1.3" not in out:
        return False
    # RFC 8446 §C.4: a client uses a ticket once, so the resumed connection
    # must hand out the next one.
    rc, out = s_client("-tls1_3", "-sess_in", renewed, "-ign_eof", stdin=HTTP_REQUEST)
    eq(rc, 0, "third connection")
    check("Reused, TLSv1.3" in out, "the resumed connection's new ticket resumes too")
    return True


def resumption(srv):
    resumed_before = metric("wsgate_tls_handshakes_total", '{kind="resumed"}')
    path = os.path.join(pki.dir, "session.pem")
    check(ticket_resumed(path), "TLS 1.3 ticket resumed")
    rc, out = s_client("-tls1_2", "-reconnect", stdin=b"")
    eq(rc, 0, f"s_client -reconnect: {out[-300:]!r}")
    reused = len(re.findall(r"^Reused, TLSv1\.2", out, re.M))
    eq(reused, 5, "TLS 1.2 -reconnect: 5 of 6 connections resumed")
    deadline = time.monotonic() + 3
    while metric("wsgate_tls_handshakes_total", '{kind="resumed"}') < resumed_before + 7:
        check(time.monotonic() < deadline, "resumed handshakes counted in /metrics")
        time.sleep(0.1)
    eq(metric("wsgate_tls_handshakes_total", '{kind="resumed"}'), resumed_before + 7,
       "7 resumed handshakes counted")


def ticket_rotation():
    global TLS_PORT
    saved = TLS_PORT
    TLS_PORT = free_port()
    flags = ["--backend", BACKEND, "--threads", "1", "--listen", f"127.0.0.1:{TLS_PORT},tls",
             "--tls-cert", LEAF, "--tls-key", LEAF_KEY, "--tls-ticket-key-rotation", "1"]
    try:
        with Server(BIN, flags) as srv:
            path = os.path.join(pki.dir, "rotation.pem")
            # Sealed in period p, opened in p + 1: resumed; in p + 2: not.
            # Periods are whole seconds of CLOCK_MONOTONIC (python's monotonic).
            def next_period(skip=0):
                t = time.monotonic()
                time.sleep(math.ceil(t) - t + skip + 0.05)

            next_period()
            rc, out = s_client("-tls1_3", "-sess_out", path, "-ign_eof", stdin=HTTP_REQUEST)
            check("New, TLSv1.3" in out, "first handshake")
            next_period()
            rc, out = s_client("-tls1_3", "-sess_in", path, "-ign_eof", stdin=HTTP_REQUEST)
            check("Reused, TLSv1.3" in out, f"resumed in the next period: {out[-300:]!r}")
            next_period()
            rc, out = s_client("-tls1_3", "-sess_out", path, "-ign_eof", stdin=HTTP_REQUEST)
            next_period(1)
            rc, out = s_client("-tls1_3", "-sess_in", path, "-ign_eof", stdin=HTTP_REQUEST)
            check("New, TLSv1.3" in out, f"a full handshake two periods later: {out[-300:]!r}")
            eq(srv.terminate(10), 0, "exit status after SIGTERM")
    finally:
        TLS_PORT = saved


def available_ulps():
    try:
        with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
            return f.read().split()
    except OSError:
        return []


def ktls_logged(srv):
    """Each TLS listener says what it uses, from the tcp_available_ulp probe."""
    ulps = available_ulps()
    m = re.search(r"^wsgate: TLS on 127\.0\.0\.1:%d: (.*)$" % TLS_PORT, srv.log(), re.M)
    check(m, "a line for the TLS listener")
    offered = "tls" in ulps
    want = ("kTLS: tx+rx after the handshake" if offered
            else "user-space TLS (no tls ULP; tcp_available_ulp: ")
    check(m.group(1).startswith(want), f"{m.group(1)!r} starts with {want!r}")
    check(not re.search(r"^wsgate: TLS on 127\.0\.0\.1:%d:" % PLAIN_PORT, srv.log(), re.M),
          "no TLS line for the plain listener")


def kernel_tls_skip_reason():
    """Why the kernel TLS case cannot run here, or None."""
    if "tls" not in available_ulps():
        return "no kernel tls (tcp_available_ulp lists no tls)"
    return None


def kernel_metric(outcome, port=None):
    return metric("wsgate_tls_kernel_total", '{outcome="%s"}' % outcome, port)


def kernel_tls_used():
    """Where the tls ULP exists, established sessions go to the kernel: the
    records of a connection are the kernel's (/proc/net/tls_stat counts its
    software TX/RX contexts) and wsgate counts the switch; echo of 0 B..1 MiB
    over TLS 1.3 and 1.2 and close_notify both ways go through it."""
    def tls_stat():
        with open("/proc/net/tls_stat") as f:
            return {k: int(v) for k, v in (line.split() for line in f if line.strip())}
    before = tls_stat()
    switched = kernel_metric("switched")
    asyncio.run(python_echo())
    asyncio.run(python_echo(max_version=ssl.TLSVersion.TLSv1_2))
    close_notify_both_ways()
    after = tls_stat()
    for key in ("TlsTxSw", "TlsRxSw"):
        check(after.get(key, 0) >= before.get(key, 0) + 3, f"{key} grew by 3: {before} {after}")
    check(kernel_metric("switched") >= switched + 3, "3 connections switched to kernel TLS")


UPGRADE = (b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")


def close_notify_both_ways(port=None):
    """The client's close_notify ends the connection like a FIN, and the
    server answers with its own before its FIN (RFC 8446 §6.1): ssl's
    unwrap() returns instead of failing on a bare EOF. Under kernel TLS
    (once the session went to the kernel after the 101) both alerts are
    records the kernel carries."""
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF  # a bare EOF fails unwrap()
    raw = socket.create_connection(("127.0.0.1", port or TLS_PORT), timeout=5)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    try:
        s.sendall(UPGRADE)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            check(chunk, "the 101 before EOF")
            head += chunk
        check(head.startswith(b"HTTP/1.1 101"), f"101: {head[:40]!r}")
        time.sleep(0.3)  # the switch to the kernel, where it happens, is done by now
        s.sendall(wsraw.frame(0x2, b"after the handshake"))
        echo = b""
        while len(echo) < 2 + 19:
            chunk = s.recv(4096)
            check(chunk, "the echo before EOF")
            echo += chunk
        eq(echo, b"\x82\x13after the handshake", "echo")
        s.unwrap()  # sends close_notify, reads the server's (raises on EOF without it)
    finally:
        raw.close()


def kernel_tls_fallback():
    """--tls-kernel always on a host without the tls ULP: each established
    session is tried, refused at setsockopt(TCP_ULP) - one line per loop -
    and stays in user-space TLS; the connections still echo and close with
    close_notify. Where the ULP exists the same flags switch instead."""
    port, admin = free_port(), free_port()
    flags = ["--backend", BACKEND, "--threads", "1", "--listen", f"127.0.0.1:{port},tls",
             "--admin-listen", f"127.0.0.1:{admin}", "--tls-cert", LEAF, "--tls-key", LEAF_KEY,
             "--tls-kernel", "always"]
    with Server(BIN, flags) as srv:
        asyncio.run(python_echo(port))
        asyncio.run(python_echo(port, ssl.TLSVersion.TLSv1_2))
        close_notify_both_ways(port)
        if "tls" in available_ulps():
            check(kernel_metric("switched", admin) >= 3, "switched where the ULP exists")
            return
        check("user-space TLS (no tls ULP; kTLS tried anyway: --tls-kernel always;" in srv.log(),
              "the listener line says kTLS is tried")
        lines = re.findall(r"^wsgate: kernel TLS refused \(setsockopt TCP_ULP: (.*)\): such "
                           r"connections stay in user-space TLS$", srv.log(), re.M)
        eq(lines, ["No such file or directory"], "one refusal line (per loop)")
        eq(kernel_metric("switched", admin), 0, "none switched")
        eq(kernel_metric("user_space", admin), 3, "three stayed in user space")
        eq(srv.terminate(10), 0, "exit status")


def kernel_tls_off():
    """--tls-kernel off: the listener says so, no session is prepared."""
    port, admin = free_port(), free_port()
    flags = ["--backend", BACKEND, "--listen", f"127.0.0.1:{port},tls", "--admin-listen",
             f"127.0.0.1:{admin}", "--tls-cert", LEAF, "--tls-key", LEAF_KEY, "--tls-kernel", "off"]
    with Server(BIN, flags) as srv:
        close_notify_both_ways(port)
        check(f"wsgate: TLS on 127.0.0.1:{port}: user-space TLS (--tls-kernel off)" in srv.log(),
              "the listener line")
        eq((kernel_metric("switched", admin), kernel_metric("user_space", admin)), (0, 0),
           "nothing prepared, nothing counted")


def idle_cost(srv, count=600):
    """Bytes of server memory per idle TLS WebSocket connection (RSS slope),
    after the record buffers of quiet connections were given back."""
    ctx = ssl.create_default_context(cafile=pki.ca)
    socks = []
    request = (b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               b"Sec-WebSocket-Version: 13\r\n\r\n")
    try:
        for _ in range(20):  # warm the loops' pools first
            socks.append(ctx.wrap_socket(socket.create_connection(("127.0.0.1", TLS_PORT)),
                                         server_hostname="localhost"))
        time.sleep(1.5)
        base = rss_kib(srv.pid)
        for _ in range(count):
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", TLS_PORT), timeout=10),
                                server_hostname="localhost")
            s.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
            check(head.startswith(b"HTTP/1.1 101"), "upgraded")
            socks.append(s)
        time.sleep(2.5)  # a quiet second, then the sweep
        per = (rss_kib(srv.pid) - base) * 1024 / count
        print(f"idle TLS connection: {per:.0f} bytes of server RSS each ({count} connections)",
              flush=True)
        check(per < 32 * 1024, f"{per:.0f} bytes per idle TLS connection")
    finally:
        for s in socks:
            s.close()


def certificate_reload():
    """SIGHUP reads the certificate and key files again: new handshakes get
    the new certificate, an open connection keeps echoing; a bad file keeps
    the certificate in use."""
    global TLS_PORT
    saved = TLS_PORT
    TLS_PORT = free_port()
    cert, key = os.path.join(pki.dir, "reload.pem"), os.path.join(pki.dir, "reload.key")
    shutil.copy(LEAF, cert)
    shutil.copy(LEAF_KEY, key)
    flags = ["--backend", BACKEND, "--threads", "2", "--listen", f"127.0.0.1:{TLS_PORT},tls",
             "--tls-cert", cert, "--tls-key", key]

    def subject():
        rc, out = s_client("-servername", "localhost")
        eq(rc, 0, "s_client")
        return re.search(r"^subject=(.*)$", out, re.M).group(1)

    async def during_reload(srv):
        ctx = ssl.create_default_context(cafile=pki.ca)
        async with websockets.connect(f"wss://localhost:{TLS_PORT}/", ssl=ctx, open_timeout=5,
                                      close_timeout=5, ping_interval=None) as ws:
            await ws.send("before")
            eq(await asyncio.wait_for(ws.recv(), 5), "before", "echo before the reload")
            check("CN = localhost" in subject() and "localhost-b" not in subject(), "first cert")
            new_cert, new_key = pki.leaf("localhost-b", ["DNS:localhost", "IP:127.0.0.1"], "rsa")
            shutil.copy(new_cert, cert)
            shutil.copy(new_key, key)
            srv.proc.send_signal(signal.SIGHUP)
            srv.wait_for(lambda log: "applied TLS certificates: RSA localhost" in log, 5,
                         "the reload line")
            check("CN = localhost-b" in subject(), "new handshakes get the new certificate")
            await ws.send("after")
            eq(await asyncio.wait_for(ws.recv(), 5), "after", "the open connection still echoes")
            with open(key, "w") as f:
                f.write("not a key\n")
            srv.proc.send_signal(signal.SIGHUP)
            srv.wait_for(lambda log: "reload failed, nothing changed: TLS certificates: tls-key " in log, 5,
                         "the refusal line")
            check("CN = localhost-b" in subject(), "a bad key file keeps the certificate in use")
            await ws.send("still")
            eq(await asyncio.wait_for(ws.recv(), 5), "still", "still echoing")
        eq(ws.close_code, 1000, "close code")

    try:
        with Server(BIN, flags) as srv:
            asyncio.run(during_reload(srv))
            eq(srv.terminate(10), 0, "exit status after SIGTERM")
    finally:
        TLS_PORT = saved


def tshark_decrypts():
    """tshark on lo decodes the TLS handshake; with the SSLKEYLOGFILE the
    Python client wrote (SSLContext.keylog_filename) it decrypts the records
    and finds the 101 and every WebSocket frame inside; without it, none."""
    pcap, keys = os.path.join(pki.dir, "tls.pcap"), os.path.join(pki.dir, "keys.log")
    errlog = open(os.path.join(pki.dir, "tshark.err"), "w+")
    cap = subprocess.Popen(["timeout", "-k", "2", "40", "tshark", "-i", "lo", "-f",
                            f"tcp port {TLS_PORT}", "-a", "duration:30", "-w", pcap, "-q"],
                           stdout=subprocess.DEVNULL, stderr=errlog)
    try:
        deadline = time.monotonic() + 20
        while "Capturing on" not in open(errlog.name).read():
            check(cap.poll() is None, f"tshark exited early: {open(errlog.name).read()}")
            check(time.monotonic() < deadline, "tshark did not start capturing in 20 s")
            time.sleep(0.1)
        time.sleep(0.3)

        async def client():
            ctx = ssl.create_default_context(cafile=pki.ca)
            ctx.keylog_filename = keys
            async with websockets.connect(f"wss://localhost:{TLS_PORT}/", ssl=ctx,
                                          compression=None, ping_interval=None) as ws:
                await ws.send("seen by tshark")
                eq(await asyncio.wait_for(ws.recv(), 5), "seen by tshark", "echo")
                await ws.send(b"\x01" * 300)
                eq(await asyncio.wait_for(ws.recv(), 5), b"\x01" * 300, "binary echo")
        asyncio.run(client())
        time.sleep(0.5)
    finally:
        if cap.poll() is None:
            os.kill(cap.pid, signal.SIGINT)  # dumpcap flushes and ends
        try:
            cap.wait(10)
        except subprocess.TimeoutExpired:
            cap.kill()
            cap.wait()
        errlog.close()

    def read(*args):
        r = subprocess.run(["timeout", "30", "tshark", "-r", pcap, "-d",
                            f"tcp.port=={TLS_PORT},tls", "-d", f"tls.port=={TLS_PORT},http", *args],
                           capture_output=True, text=True)
        check(r.returncode == 0, f"tshark -r: {r.stderr[-300:]}")
        return r.stdout.split()

    hello = read("-Y", "tls.handshake.type", "-T", "fields", "-e", "tls.handshake.type")
    check("1" in hello and "2" in hello, f"ClientHello and ServerHello decoded: {hello}")
    eq(read("-Y", "websocket", "-T", "fields", "-e", "websocket.opcode"), [],
       "no WebSocket frame visible without the keys")
    with_keys = ("-o", f"tls.keylog_file:{keys}")
    eq(read(*with_keys, "-Y", "http.response.code == 101", "-T", "fields", "-e",
            "http.response.code"), ["101"], "the 101 inside TLS")
    ops = read(*with_keys, "-Y", "websocket", "-T", "fields", "-e", "websocket.opcode")
    eq(sorted(ops), ["1", "1", "2", "2", "8", "8"],
       "text, binary and close frames both ways inside TLS")


def refused_at_start(args, want, status):
    rc, out, err = run_flags(BIN, ["--backend", BACKEND, "--listen",
                                   f"127.0.0.1:{free_port()},tls"] + args)
    eq(rc, status, f"exit status ({err!r})")
    eq(len(err.strip().splitlines()), 1, f"one line: {err!r}")
    check(want in err, f"{want!r} in {err!r}")


with Server(BIN, FLAGS, wait_lines=2) as server:
    log = server.log()
    check(re.search(r"^wsgate: listening on 127\.0\.0\.1:%d \(TLS, %s," % (TLS_PORT, BACKEND), log,
                    re.M), f"TLS listener logged: {log!r}")
    suite.run("python-websockets over ssl: echo 0 B..1 MiB, deflate, burst, close 1000",
              lambda: asyncio.run(python_echo()))
    suite.run("node ws with ca: echo, permessage-deflate, close 1000", node_echo)
    suite.run("curl --cacert: https GET /healthz, ALPN http/1.1; plain listener stays plain",
              curl_https)
    suite.run("s_client: TLS 1.2 and 1.3 accepted, chain verified", versions_accepted)
    suite.run("s_client: TLS 1.0 and 1.1 refused (protocol_version), one line each",
              versions_refused, server)
    suite.run("s_client: ALPN http/1.1 chosen, h2 alone refused", alpn)
    suite.run("s_client: SNI picks the certificate (exact, wildcard, default)", sni)
    suite.run("plain HTTP on the TLS port: plain 400, one line", plain_http, server)
    suite.run("garbage on the TLS port: closed at once, one line", garbage, server)
    suite.run("silent client: closed at --handshake-timeout, one line", stalled, server, b"")
    suite.run("ClientHello cut short: closed at --handshake-timeout, one line", stalled, server,
              client_hello_start())
    suite.run("TLS 1.2 renegotiation: closed, one line", renegotiation, server)
    suite.run("resumption: TLS 1.3 ticket, TLS 1.2 -reconnect, counted in /metrics", resumption,
              server)
    suite.run("tshark: TLS handshake decoded; with SSLKEYLOGFILE the 101 and frames inside",
              tshark_decrypts)
    suite.run("server still serves after all that", lambda: asyncio.run(python_echo()))
    suite.run("each TLS listener logs user-space or kernel TLS (tcp_available_ulp probe)",
              ktls_logged, server)
    suite.run("close_notify both ways (ssl unwrap), echo after the session may have gone to "
              "the kernel", close_notify_both_ways)
    KTLS_CASE = ("kernel TLS carries the records (/proc/net/tls_stat, switched metric): echo "
                 "TLS 1.3 and 1.2, close_notify")
    why_not = kernel_tls_skip_reason()
    if why_not:
        print(f"skipped: {why_not.split(' (')[0].split(',')[0]}", flush=True)
        suite.skip(KTLS_CASE, why_not)
    else:
        suite.run(KTLS_CASE, kernel_tls_used)
    suite.run("idle TLS connections: bytes of server memory each", idle_cost, server)
    suite.run("SIGTERM: exit 0", lambda: eq(server.terminate(10), 0, "exit status"))
suite.run("--tls-kernel always without the tls ULP: refused at setsockopt, one line, "
          "connections stay in user space and echo", kernel_tls_fallback)
suite.run("--tls-kernel off: user-space TLS logged, nothing prepared", kernel_tls_off)
suite.run("--tls-ticket-key-rotation 1: resumed next period, full after two", ticket_rotation)
suite.run("SIGHUP: new certificate for new handshakes, open connection kept, bad file kept out",
          certificate_reload)
suite.run("TLS listener without a certificate refused", refused_at_start, [],
          "needs --tls-cert and --tls-key", 2)
suite.run("unreadable certificate refused", refused_at_start,
          ["--tls-cert", "/nonexistent.pem", "--tls-key", LEAF_KEY], "tls-cert /nonexistent.pem", 1)
suite.run("key that does not match the certificate refused", refused_at_start,
          ["--tls-cert", LEAF, "--tls-key", OTHER_KEY], "does not match", 1)
pki.remove()
suite.finish()
