#!/usr/bin/python3
"""Command-line behaviour of wsgate, on instances this suite starts itself.

  test_listen_trace.py WSGATE_BINARY BACKEND [CASE-FILTER...]

- two listeners (127.0.0.1:P and [::1]:P): python-websockets echoes over
  IPv4 and IPv6, the startup log names both listeners and the backend;
- --trace: the exact request bytes and the exact 101 bytes appear in stderr
  with CR as ␍ and LF as ␊;
- --backend epoll / io_uring name themselves in the startup log;
- --workers 2: two worker processes each listen on the port, 200 connections
  spread over both all get echoes, SIGTERM to the parent closes every client
  with 1001 and ends parent and workers with exit 0; a worker killed with
  SIGKILL is logged and replaced by one that serves; a crash loop stops the
  parent with a non-zero status; a parent killed with SIGKILL takes its
  workers with it within a second;
- bad flags exit non-zero with one line on stderr; --help exits 0 listing
  every flag;
- --features prints one line of probed io_uring features (on a kernel of
  6.1 or later: DEFER_TASKRUN in the ring set-up, multishot receive), the
  same line --version prints after the version and kernel, and the line the
  server logs at start-up when it considers io_uring;
- --config FILE: a TOML file with two listeners, the backend, one thread,
  max-message-bytes, trace and deflate off serves exactly so (both addresses
  echo, 1009 above the limit, the handshake traced, no permessage-deflate);
  flags override it; `wsgate check-config FILE [flags]` prints every key as
  TOML that python's tomllib reads, and that output serves and checks the
  same again; a pub/sub file (mode, api-key, history-size) answers POST
  /api/publish with offsets; an unknown key or a wrong type exits 2 with
  one line naming file:line:column (and the nearest key);
- with io_uring switched off (a seccomp filter failing io_uring_setup with
  EPERM, as container runtimes do): --features says unavailable, auto logs why
  and serves on epoll, a forced io_uring exits 1 with one line.
"""

import asyncio
import json
import os
import re
import signal
import socket
import sys
import tempfile
import time
import tomllib
import urllib.request

import websockets

import wsraw
from wsgate_proc import Server, free_port, run_flags
from wsraw import OP_CLOSE, OP_TEXT, Conn, check, close_payload, eq, frame

if len(sys.argv) < 3:
    print("usage: test_listen_trace.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]  # the rest filters cases (wsraw.Suite)
suite = wsraw.Suite("listen_trace")
BASE_FLAGS = ["--backend", BACKEND, "--threads", "2", "--handshake-timeout", "2",
              "--close-timeout", "2", "--idle-timeout", "30"]
STOP_TIMEOUT = wsraw.CLOSE_TIMEOUT + 5


def listening_line(log, endpoint, backend):
    """The startup line for `endpoint`, checked to name `backend`."""
    m = re.search(r"^wsgate: listening on " + re.escape(endpoint) + r" \(([^,)]+)[,)].*$", log,
                  re.M)
    check(m, f"no 'listening on {endpoint}' line in {log!r}")
    eq(m.group(1), backend, f"backend named for {endpoint}")
    return m.group(0)


def graceful_stop(srv):
    rc = srv.terminate(STOP_TIMEOUT)
    eq(rc, 0, "exit status after SIGTERM")


async def websockets_echo(uri, texts):
    async with websockets.connect(uri, open_timeout=5, close_timeout=5, ping_interval=None) as ws:
        for t in texts:
            await ws.send(t)
            got = await asyncio.wait_for(ws.recv(), 5)
            eq(got, t, f"echo over {uri}")
        await ws.send(b"\x00\xff binary")
        eq(await asyncio.wait_for(ws.recv(), 5), b"\x00\xff binary", f"binary echo over {uri}")
    eq(ws.close_code, 1000, f"close code over {uri}")


def ipv4_and_ipv6():
    port = free_port((socket.AF_INET, socket.AF_INET6))
    v4, v6 = f"127.0.0.1:{port}", f"[::1]:{port}"
    with Server(BIN, ["--listen", v4, "--listen", v6] + BASE_FLAGS, wait_lines=2) as srv:
        log = srv.log()
        listening_line(log, v4, BACKEND)
        listening_line(log, v6, BACKEND)
        asyncio.run(websockets_echo(f"ws://{v6}/", ["over IPv6", "ü ☃ 𝄞"]))
        asyncio.run(websockets_echo(f"ws://{v4}/", ["over IPv4", "ü ☃ 𝄞"]))
        # A raw IPv6 client too: the strict 101 check and a clean close.
        with Conn(port=port, host="::1") as c:
            c.port = port
            key = wsraw.new_key()
            c.send(wsraw.build_upgrade("/", key, v6))
            wsraw.check_101(c.read_http_head(), key)
            c.echo(OP_TEXT, "raw over IPv6")
            c.send(frame(OP_CLOSE, close_payload(1000)))
            c.expect_close(1000, reply=False, strict=True)
        graceful_stop(srv)


def escape(data):
    return data.decode("latin-1").replace("\r", "\u240d").replace("\n", "\u240a")


def trace():
    port = free_port()
    with Server(BIN, ["--listen", f"127.0.0.1:{port}", "--trace"] + BASE_FLAGS) as srv:
        key = wsraw.new_key()
        request = wsraw.build_upgrade("/traced?x=1", key, f"127.0.0.1:{port}",
                                      extra=("User-Agent: trace-test/1.0",))
        with Conn(port=port) as c:
            c.send(request)
            head = c.read_http_head()
            wsraw.check_101(head, key)
            log = srv.wait_for(lambda t: " response HTTP/1.1 101" in t, 5, "the traced 101")
            # The line ends with the connection's request id: " (conn L.S.G)".
            req = re.search(r"^wsgate: trace fd (\d+) request (.*) \(conn ([\d.]+)\)$", log, re.M)
            check(req, f"no traced request in {log!r}")
            eq(req.group(2), escape(request), "traced request text")
            check("\r" not in log and "\n" not in req.group(2), "raw CR in the trace")
            resp = re.search(r"^wsgate: trace fd (\d+) response (.*) \(conn ([\d.]+)\)$", log,
                             re.M)
            check(resp, f"no traced response in {log!r}")
            eq(resp.group(1), req.group(1), "request and response traced for the same fd")
            eq(resp.group(3), req.group(3), "request and response traced with the same id")
            check(resp.group(2).endswith("\u240d\u240a\u240d\u240a"),
                  f"traced 101 does not end with ␍␊␍␊: {resp.group(2)!r}")
            eq(resp.group(2), escape(head), "traced 101 is the bytes the client received")
            c.echo(OP_TEXT, "after the trace")
            c.send(frame(OP_CLOSE, close_payload(1000)))
            c.expect_close(1000, reply=False, strict=True)
        # Frames are not handshake bytes: exactly one request and one response traced.
        log = srv.log()
        eq(len(re.findall(r"^wsgate: trace ", log, re.M)), 2, f"trace lines in {log!r}")
        graceful_stop(srv)


def backend_named(backend):
    port = free_port()
    flags = ["--listen", f"127.0.0.1:{port}", "--backend", backend, "--threads", "1",
             "--close-timeout", "2"]
    with Server(BIN, flags) as srv:
        line = listening_line(srv.log(), f"127.0.0.1:{port}", backend)
        check("1 thread)" in line, f"thread count in {line!r}")
        with Conn(port=port) as c:
            c.handshake()
            c.echo(OP_TEXT, f"served by {backend}")
            c.send(frame(OP_CLOSE, close_payload(1000)))
            c.expect_close(1000, reply=False, strict=True)
        graceful_stop(srv)


def listening_inodes(port):
    """Socket inodes in LISTEN state on `port` (IPv4, /proc/net/tcp)."""
    out = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            if int(cols[1].split(":")[1], 16) == port and cols[3] == "0A":
                out.add(cols[9])
    return out


def established_inodes(port):
    out = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            if int(cols[1].split(":")[1], 16) == port and cols[3] == "01":
                out.add(cols[9])
    return out


def socket_inodes(pid):
    out = set()
    fd_dir = f"/proc/{pid}/fd"
    import os
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


N_WORKER_CONNS = 200


async def worker_clients(port, srv):
    conns = []
    sem = asyncio.Semaphore(100)

    async def open_one(i):
        async with sem:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
            conns.append((r, w))
            key = wsraw.new_key()
            w.write(wsraw.build_upgrade("/", key, f"127.0.0.1:{port}"))
            wsraw.check_101(await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10), key)
            msg = f"worker echo {i}".encode()
            w.write(frame(OP_TEXT, msg))
            eq(await asyncio.wait_for(r.readexactly(2 + len(msg)), 10),
               bytes([0x81, len(msg)]) + msg, f"echo on connection {i}")
            return r, w

    results = await asyncio.gather(*[open_one(i) for i in range(N_WORKER_CONNS)],
                                   return_exceptions=True)
    try:
        errors = [e for e in results if isinstance(e, BaseException)]
        check(not errors, f"{len(errors)} of {N_WORKER_CONNS} connections failed, first: "
                          f"{errors[:1]!r}")
        # Every connection is open now: which worker holds which?
        est = established_inodes(port)
        per_worker = {k: len(socket_inodes(k) & est) for k in srv.children()}
        print(f"     connections per worker: {per_worker}", flush=True)
        eq(sum(per_worker.values()), N_WORKER_CONNS, "server-side connections over all workers")
        check(all(n > 0 for n in per_worker.values()), f"a worker got no connection: {per_worker}")
        # SIGTERM to the parent: every client gets close 1001 from its worker.
        import signal
        srv.proc.send_signal(signal.SIGTERM)

        async def closed_by_server(r, w):
            h = await asyncio.wait_for(r.readexactly(2), wsraw.CLOSE_TIMEOUT + 5)
            eq(h[0], 0x80 | OP_CLOSE, "first byte after SIGTERM")
            payload = await r.readexactly(h[1] & 0x7F)
            eq(payload[:2], (1001).to_bytes(2, "big"), "close code after SIGTERM")
            w.write(frame(OP_CLOSE, close_payload(1001)))
            eq(await asyncio.wait_for(r.read(), 5), b"", "EOF after the closing handshake")

        res = await asyncio.gather(*[closed_by_server(r, w) for r, w in results],
                                   return_exceptions=True)
        errors = [e for e in res if isinstance(e, BaseException)]
        check(not errors, f"{len(errors)} clients not closed with 1001, first: {errors[:1]!r}")
    finally:
        for _, w in conns:
            w.close()


def workers():
    port = free_port()
    flags = ["--listen", f"127.0.0.1:{port}", "--workers", "2", "--backend", BACKEND,
             "--threads", "1", "--close-timeout", "2", "--handshake-timeout", "5"]
    with Server(BIN, flags) as srv:
        line = listening_line(srv.log(), f"127.0.0.1:{port}", BACKEND)
        check("2 workers" in line, f"workers not named in {line!r}")
        kids = srv.children()
        eq(len(kids), 2, f"worker processes of {srv.pid}")
        listen = listening_inodes(port)
        for k in kids:
            check(socket_inodes(k) & listen, f"worker {k} holds no listening socket on {port}")
        # The parent keeps them too, so a restarted worker takes over its sockets.
        check(socket_inodes(srv.pid) & listen, "the parent holds no listening socket")
        asyncio.run(worker_clients(port, srv))
        try:
            rc = srv.proc.wait(STOP_TIMEOUT)
        except Exception:  # noqa: BLE001
            raise wsraw.Failure(f"parent still running {STOP_TIMEOUT}s after SIGTERM")
        eq(rc, 0, "parent exit status after SIGTERM")
        deadline = time.monotonic() + 2
        while any(alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.05)
        check(not any(alive(k) for k in kids),
              f"workers still alive: {[k for k in kids if alive(k)]}")


def worker_pids(srv, count, what, timeout=5.0):
    """The parent's `count` live worker PIDs, waiting up to `timeout` for them."""
    deadline = time.monotonic() + timeout
    while True:
        kids = [k for k in srv.children() if alive(k)]
        if len(kids) == count:
            return kids
        check(srv.proc.poll() is None, f"parent exited ({srv.proc.returncode}) {what}")
        check(time.monotonic() < deadline, f"{len(kids)} workers, not {count}, {what}")
        time.sleep(0.05)


def serving_worker(port, kids):
    """Upgrades, echoes, and says which worker holds the connection."""
    with Conn(port=port) as c:
        c.handshake()
        c.echo(OP_TEXT, "which worker?")
        local = c.sock.getsockname()
        # The server side of this connection is the established socket whose
        # remote end is our local address: find which worker holds its inode.
        inode = None
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                cols = line.split()
                rport = int(cols[2].split(":")[1], 16)
                if int(cols[1].split(":")[1], 16) == port and rport == local[1] and cols[3] == "01":
                    inode = cols[9]
        holder = next((k for k in kids if inode and inode in socket_inodes(k)), None)
        c.send(frame(OP_CLOSE, close_payload(1000)))
        c.expect_close(1000, reply=False, strict=True)
        return holder


def worker_restarted():
    port = free_port()
    flags = ["--listen", f"127.0.0.1:{port}", "--workers", "2", "--backend", BACKEND,
             "--threads", "1", "--close-timeout", "2"]
    with Server(BIN, flags) as srv:
        listening_line(srv.log(), f"127.0.0.1:{port}", BACKEND)
        kids = worker_pids(srv, 2, "at start")
        os.kill(kids[0], signal.SIGKILL)
        log = srv.wait_for(lambda t: "serves again" in t, 5, "the restarted worker")
        check(re.search(rf"worker {kids[0]} killed by signal {int(signal.SIGKILL)}\b", log),
              f"the worker's death is not logged: {log[-400:]!r}")
        new_kids = worker_pids(srv, 2, "after the restart")
        check(kids[0] not in new_kids and kids[1] in new_kids,
              f"workers {kids} -> {new_kids}: want the killed one replaced, the other kept")
        # The kernel spreads connections over both workers' sockets by
        # address hash: connect until each worker has echoed at least once.
        answered = set()
        for _ in range(200):
            answered.add(serving_worker(port, new_kids))
            if answered >= set(new_kids):
                break
        check(answered >= set(new_kids), f"workers that answered: {answered}, want {new_kids}")
        check(srv.proc.poll() is None, "the parent exited")
        graceful_stop(srv)


def crash_loop():
    port = free_port()
    flags = ["--listen", f"127.0.0.1:{port}", "--workers", "2", "--backend", BACKEND,
             "--threads", "1", "--close-timeout", "2"]
    with Server(BIN, flags) as srv:
        killed = set()
        deadline = time.monotonic() + 15
        while srv.proc.poll() is None and time.monotonic() < deadline:
            for k in srv.children():
                if k not in killed and alive(k):
                    os.kill(k, signal.SIGKILL)
                    killed.add(k)
            time.sleep(0.02)
        try:
            rc = srv.proc.wait(STOP_TIMEOUT)
        except Exception:  # noqa: BLE001
            raise wsraw.Failure(f"parent still running after {len(killed)} worker kills")
        check(rc != 0, f"parent exited {rc} after a crash loop")
        log = srv.log()
        check("crash loop" in log, f"the crash loop is not logged: {log[-600:]!r}")
        print(f"     stopped after {len(killed)} kills, exit status {rc}", flush=True)


def parent_killed():
    port = free_port()
    flags = ["--listen", f"127.0.0.1:{port}", "--workers", "2", "--backend", BACKEND,
             "--threads", "1", "--close-timeout", "2"]
    with Server(BIN, flags) as srv:
        kids = worker_pids(srv, 2, "at start")
        srv.proc.kill()
        srv.proc.wait(5)
        deadline = time.monotonic() + 1
        while any(alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.02)
        left = [k for k in kids if alive(k)]
        for k in left:
            os.kill(k, signal.SIGKILL)
        check(not left, f"workers {left} still alive 1 s after the parent was killed")


def bad_flag(args, must_mention):
    rc, out, err = run_flags(BIN, args)
    check(rc != 0, f"wsgate {' '.join(args)} exited 0")
    eq(out, "", "stdout")
    check(err.endswith("\n") and err.count("\n") == 1, f"want one line on stderr, got {err!r}")
    check(must_mention in err, f"error {err!r} does not mention {must_mention!r}")
    check("listening" not in err, "started anyway")


ALL_FLAGS = ["--config", "--listen", "--threads", "--workers", "--backend", "--mode", "--max-message-bytes",
             "--max-connections", "--idle-timeout", "--handshake-timeout", "--close-timeout",
             "--memory-release-delay",
             "--max-queued-bytes", "--recv-buffers", "--recv-buffer-bytes", "--trace",
             "--direct-descriptors", "--features", "--version", "--help",
             "--api-key", "--allow-client-publish", "--allow-anonymous", "--token-hmac-secret",
             "--history-size", "--history-ttl", "--ping-interval",
             "--max-channels-per-connection", "--max-channels"]


def help_text():
    rc, out, err = run_flags(BIN, ["--help"])
    eq(rc, 0, "--help exit status")
    eq(err, "", "--help stderr")
    for f in ALL_FLAGS:
        check(re.search(r"^\s+" + re.escape(f) + r"\b", out, re.M), f"--help does not list {f}")


def kernel_at_least(major, minor):
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return m is not None and (int(m.group(1)), int(m.group(2))) >= (major, minor)


FEATURES_LINE = re.compile(r"^io_uring features: (setup=\S+(?: [a-z_]+)*; missing: (?:none|[a-z_ ]+)"
                           r"|unavailable: .+)$")


def features():
    rc, out, err = run_flags(BIN, ["--features"])
    eq(rc, 0, "--features exit status")
    eq(err, "", "--features stderr")
    lines = out.splitlines()
    eq(len(lines), 1, f"--features prints one line: {out!r}")
    check(FEATURES_LINE.match(lines[0]), f"--features line {lines[0]!r}")
    if kernel_at_least(6, 1) and "unavailable" not in lines[0]:
        present = lines[0].split(";")[0].split()
        check("DEFER_TASKRUN" in present[2].split("|"), f"DEFER_TASKRUN not in use: {lines[0]!r}")
        for name in ("multishot_recv", "multishot_accept", "buf_ring", "defer_taskrun"):
            check(name in present, f"{name} missing on kernel {os.uname().release}: {lines[0]!r}")

    rc, version, err = run_flags(BIN, ["--version"])
    eq(rc, 0, "--version exit status")
    eq(err, "", "--version stderr")
    vlines = version.splitlines()
    eq(len(vlines), 3, f"--version lines: {version!r}")
    check(re.match(r"^wsgate \d+\.\d+\.\d+$", vlines[0]), f"version line {vlines[0]!r}")
    eq(vlines[1], f"kernel {os.uname().sysname} {os.uname().release}", "kernel line")
    eq(vlines[2], lines[0], "--version features line")

    port = free_port()
    with Server(BIN, ["--listen", f"127.0.0.1:{port}", "--backend", BACKEND, "--threads", "1"]) as srv:
        listening_line(srv.log(), f"127.0.0.1:{port}", BACKEND)
        logged = [l for l in srv.log().splitlines() if "io_uring features" in l]
        if BACKEND == "epoll":
            eq(logged, [], "an epoll-only server probes nothing")
        else:
            eq(logged, ["wsgate: " + lines[0]], "start-up features line")
        graceful_stop(srv)


WITHOUT_IO_URING = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "without_io_uring.py"),
                    BIN]


def io_uring_switched_off():
    rc, out, err = run_flags(sys.executable, WITHOUT_IO_URING + ["--features"])
    eq((rc, out, err), (0, "io_uring features: unavailable: Operation not permitted\n", ""),
       "--features without io_uring")

    rc, out, err = run_flags(sys.executable, WITHOUT_IO_URING + ["--backend", "io_uring"])
    eq((rc, err), (1, "wsgate: io_uring unavailable: Operation not permitted\n"),
       "forced io_uring without io_uring")

    port = free_port()
    flags = ["--listen", f"127.0.0.1:{port}", "--threads", "1", "--close-timeout", "2"]
    with Server(sys.executable, WITHOUT_IO_URING + flags) as srv:
        listening_line(srv.log(), f"127.0.0.1:{port}", "epoll")
        check("wsgate: io_uring unavailable (Operation not permitted), using epoll\n" in srv.log(),
              f"no fallback line in {srv.log()!r}")
        with Conn(port=port) as c:
            c.handshake()
            c.echo(OP_TEXT, "served by epoll, io_uring refused")
            c.send(frame(OP_CLOSE, close_payload(1000)))
            c.expect_close(1000, reply=False, strict=True)
        graceful_stop(srv)


def config_path(text):
    fd, path = tempfile.mkstemp(prefix="wsgate-config.", suffix=".toml")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


async def offered_deflate(uri):
    """The Sec-WebSocket-Extensions the server answered to python-websockets'
    permessage-deflate offer (None: declined), after one echo."""
    async with websockets.connect(uri, open_timeout=5, close_timeout=5, ping_interval=None) as ws:
        await ws.send("deflate?")
        eq(await asyncio.wait_for(ws.recv(), 5), "deflate?", f"echo over {uri}")
        return ws.response_headers.get("Sec-WebSocket-Extensions")


def over_the_limit_closes_1009(port, size):
    with Conn(port=port) as c:
        c.handshake()
        c.echo(OP_TEXT, "x" * (size - 1))
        c.send(frame(OP_TEXT, b"x" * (size + 1)))
        c.expect_close(1009)


def check_config_output(path, *flags):
    """`wsgate check-config path flags`: exit 0, TOML on stdout, nothing on stderr."""
    rc, out, err = run_flags(BIN, ["check-config", path] + list(flags))
    eq((rc, err), (0, ""), f"check-config {path} exit status and stderr")
    return out, tomllib.loads(out)


def file_keys():
    """Every --help flag but the command-line-only ones: the file's keys."""
    rc, out, _ = run_flags(BIN, ["--help"])
    eq(rc, 0, "--help exit status")
    flags = re.findall(r"^  --([a-z0-9-]+)", out, re.M)
    return set(flags) - {"config", "features", "version", "help"}


def config_file_serves():
    port = free_port((socket.AF_INET, socket.AF_INET6))
    v4, v6 = f"127.0.0.1:{port}", f"[::1]:{port}"
    limit = 1000
    path = config_path(f"""# wsgate, set by a file
listen = ["{v4}", "{v6}"]
backend = "{BACKEND}"
threads = 1
max-message-bytes = {limit}
handshake-timeout = 2
close-timeout = 2.5
trace = true
deflate = "off"
""")
    printed_path = None
    try:
        with Server(BIN, ["--config", path], wait_lines=2) as srv:
            check(f"wsgate: settings from {path}\n" in srv.log(), "the file is logged")
            check("1 thread)" in listening_line(srv.log(), v4, BACKEND), "threads = 1")
            listening_line(srv.log(), v6, BACKEND)
            eq(asyncio.run(offered_deflate(f"ws://{v6}/")), None, "deflate = \"off\" over IPv6")
            over_the_limit_closes_1009(port, limit)
            check(re.search(r"^wsgate: trace fd \d+ request GET ", srv.log(), re.M),
                  "trace = true: no traced request")
            graceful_stop(srv)
        # Flags override the file: a larger limit, two threads, deflate on, one listener.
        flags = ["--config", path, "--max-message-bytes", str(4 * limit), "--threads", "2",
                 "--deflate", "on", "--listen", v4]
        with Server(BIN, flags) as srv:
            line = listening_line(srv.log(), v4, BACKEND)
            check("2 threads)" in line, f"--threads 2 over threads = 1: {line!r}")
            check(v6 not in srv.log(), "--listen replaces the file's listen list")
            check("permessage-deflate" in (asyncio.run(offered_deflate(f"ws://{v4}/")) or ""),
                  "--deflate on over deflate = \"off\"")
            with Conn(port=port) as c:
                c.handshake()
                c.echo(OP_TEXT, "y" * (2 * limit))
                c.send(frame(OP_CLOSE, close_payload(1000)))
                c.expect_close(1000, reply=False, strict=True)
            graceful_stop(srv)
        # check-config: every key, the file's values and the defaults, as TOML.
        out, conf = check_config_output(path)
        unset = set(re.findall(r"^# ([a-z0-9-]+) is not set$", out, re.M))
        check(not (unset & set(conf)), f"a key is either set or 'not set': {unset & set(conf)}")
        check({"api-key", "admin-listen", "upstream", "route"} <= unset,
              f"keys without a default are comments: {sorted(unset)}")
        eq(set(conf) | unset, file_keys(),
           "check-config prints every key (a key without a value as '# KEY is not set')")
        eq(conf["listen"], [v4, v6], "listen")
        eq((conf["threads"], conf["max-message-bytes"], conf["close-timeout"]), (1, limit, 2.5),
           "values from the file")
        eq((conf["trace"], conf["deflate"], conf["backend"]), (True, "off", BACKEND), "values")
        eq((conf["idle-timeout"], conf["max-queued-bytes"], conf["max-handshakes"]),
           (60, 1048576, "auto"), "defaults")
        # With flags, the configuration `wsgate --config path flags` runs.
        _, over = check_config_output(path, "--threads", "3", "--trace=false")
        eq((over["threads"], over["trace"], over["max-message-bytes"]), (3, False, limit),
           "check-config FILE --threads 3 --trace=false")
        # Its output is a configuration file that checks and serves the same.
        printed_path = config_path(out)
        again, _ = check_config_output(printed_path)
        eq(again.splitlines()[1:], out.splitlines()[1:], "check-config of check-config's output")
        with Server(BIN, ["--config", printed_path], wait_lines=2) as srv:
            listening_line(srv.log(), v6, BACKEND)
            over_the_limit_closes_1009(port, limit)
            graceful_stop(srv)
    finally:
        for p in (path, printed_path):
            if p:
                os.unlink(p)


def config_file_pubsub():
    port = free_port()
    path = config_path(f"""listen = ["127.0.0.1:{port}"]
backend = "{BACKEND}"
threads = 2
mode = "pubsub"
api-key = "file-key"
history-size = 10
""")
    try:
        with Server(BIN, ["--config", path]) as srv:
            for n in (1, 2):
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/publish", method="POST",
                    data=json.dumps({"channel": "c", "data": {"n": n}}).encode(),
                    headers={"X-API-Key": "file-key", "Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=5) as r:
                    eq(r.status, 200, "POST /api/publish with the file's api-key")
                    eq(json.loads(r.read())["result"]["offset"], n, "offset kept by history-size")
            graceful_stop(srv)
    finally:
        os.unlink(path)


def config_file_refused(text, want):
    path = config_path(text)
    try:
        name = os.path.basename(path)
        for args in (["--config", path], ["check-config", path]):
            rc, out, err = run_flags(BIN, args)
            eq((rc, out), (2, ""), f"wsgate {args[0]} exit status and stdout")
            eq(err, f"wsgate: {path}:{want}\n", f"wsgate {args[0]} error line")
            check(name in err, "the file is named")
    finally:
        os.unlink(path)


suite.run("--listen 127.0.0.1:P --listen [::1]:P: websockets echo on both, both logged",
          ipv4_and_ipv6)
suite.run("--trace: exact request and 101 bytes with ␍ ␊", trace)
suite.run("--backend epoll names itself", backend_named, "epoll")
suite.run("--backend io_uring names itself", backend_named, "io_uring")
suite.run("--workers 2: both listen, 200 echoes, SIGTERM closes all with 1001, exit 0", workers)
suite.run("--workers 2: kill -9 one, the parent logs it, a new worker serves", worker_restarted)
suite.run("--workers 2: a crash loop stops the parent with a non-zero status", crash_loop)
suite.run("--workers 2: SIGKILL to the parent, the workers are gone within 1 s", parent_killed)
suite.run("--threads 0 refused", bad_flag, ["--threads", "0"], "--threads")
suite.run("--listen nonsense refused", bad_flag, ["--listen", "nonsense"], "nonsense")
suite.run("unknown flag with a value refused", bad_flag, ["--no-such-flag", "1"],
          "unknown flag --no-such-flag")
suite.run("unknown flag alone refused as unknown", bad_flag, ["--no-such-flag"],
          "unknown flag --no-such-flag")
suite.run("--backend nonsense refused", bad_flag, ["--backend", "nonsense"], "--backend")
suite.run("--mode relay refused: not a mode", bad_flag, ["--mode", "relay"],
          "bad value for --mode: relay")
suite.run("--mode proxy without a route refused", bad_flag, ["--mode", "proxy"],
          "--mode proxy needs at least one --route PREFIX=POOL")
suite.run("--mode pubsub with --workers 2 refused: one hub per process", bad_flag,
          ["--mode", "pubsub", "--workers", "2"], "--workers > 1 is not available")
suite.run("--help exits 0 listing every flag", help_text)
suite.run("--config FILE serves with the file's settings, flags override, check-config reloads",
          config_file_serves)
suite.run("--config FILE with mode = \"pubsub\", api-key, history-size: /api/publish offsets",
          config_file_pubsub)
suite.run("--config FILE: unknown key refused with file:line:column and a suggestion",
          config_file_refused, "threads = 1\nmax-queue-bytes = 5\n",
          "2:1: unknown key 'max-queue-bytes' (did you mean 'max-queued-bytes'?)")
suite.run("--config FILE: wrong type refused with file:line:column and what was expected",
          config_file_refused, "threads = 1\nidle-timeout = \"30s\"\n",
          "2:16: idle-timeout: expected a number of seconds, got a string")
suite.run("--features / --version / start-up log: the probed io_uring features", features)
suite.run("io_uring switched off by seccomp: auto logs why and serves on epoll",
          io_uring_switched_off)
suite.finish()
