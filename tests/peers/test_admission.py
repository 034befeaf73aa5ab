#!/usr/bin/python3
"""Admission under slow-loris, per-address caps, throttled refusal logs
(server contract, "Admission").

  test_admission.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Each case starts an instance of its own:

- slow-loris: N_SLOW clients (a botnet: source addresses 127.0.0.2..) dribble
  request-head bytes (one every DRIBBLE s) and reconnect RECONNECT s after
  being dropped, against --max-connections MAX_CONN. While they attack,
  N_ESTABLISHED clients upgraded before the attack keep echoing, and N_LEGIT
  new clients from 127.0.0.1 each connect, upgrade and echo: all of them must
  succeed, first time. (Before handshakes were counted apart, the slow heads
  held every slot and new clients got 503.) Scale by hand with WSGATE_ADMISSION_SLOW and
  WSGATE_ADMISSION_MAX_CONN (e.g. 1000 and 1000).
- per-address cap: one address opens many connections that send nothing;
  at most --max-handshakes-per-ip of them are held, the rest get 429 at once,
  while ten other addresses upgrade and echo.
- refusal log: a flood of bad requests (400), oversized heads (431) and
  silent connections (408) gives a bounded number of log lines, and the
  counts in those lines add up to the number of refusals of each status.
"""

import asyncio
import os
import re
import socket
import sys
import threading
import time

import wsraw
from wsgate_proc import Server, free_port
from wsraw import OP_BINARY, OP_CLOSE, OP_TEXT, check, close_payload, eq, frame

if len(sys.argv) < 3:
    print("usage: test_admission.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("admission")

THREADS = 2
N_SLOW = int(os.environ.get("WSGATE_ADMISSION_SLOW", "400"))
MAX_CONN = int(os.environ.get("WSGATE_ADMISSION_MAX_CONN", "200"))
N_LEGIT = 30
N_ESTABLISHED = 10
DRIBBLE = 0.5  # seconds between the bytes of a slow head
RECONNECT = 1.0  # a dropped slow client comes back after this
ATTACK_RAMP = 3.0  # seconds of attack before the honest clients start
IO = 5.0
# A request head that never ends: the slow clients send it one byte at a time.
SLOW_HEAD = wsraw.build_upgrade("/", None, "127.0.0.1") + b"X-Padding: " + b"a" * 4000


def start(flags):
    port = free_port()
    srv = Server(BIN, ["--listen", f"127.0.0.1:{port}", "--backend", BACKEND, "--threads",
                       str(THREADS), "--close-timeout", "2", "--idle-timeout", "60"] + flags)
    return srv, port


def source(i):
    """The i-th attacker address: 127.0.0.2 .. 127.0.0.254, 127.0.1.1 .. (never 127.0.0.1)."""
    n = i + 1
    return f"127.0.{n // 254}.{n % 254 + 1}"


async def open_from(port, src):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((src, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await asyncio.open_connection(sock=sock)


async def slow_client(port, i, stats, stop):
    """Dribbles a never-ending head; comes back after being dropped."""
    while not stop.is_set():
        try:
            r, w = await asyncio.wait_for(open_from(port, source(i)), IO)
        except (OSError, asyncio.TimeoutError):
            stats["connect_failed"] += 1
            await asyncio.sleep(RECONNECT)
            continue
        stats["connects"] += 1
        try:
            pos = 0
            read = asyncio.ensure_future(r.read(256))
            while not stop.is_set():
                done, _ = await asyncio.wait({read}, timeout=DRIBBLE)
                if done:
                    answer = read.result()
                    m = re.match(rb"HTTP/1\.1 (\d+)", answer)
                    key = m.group(1).decode() if m else ("eof" if not answer else "other")
                    stats[key] = stats.get(key, 0) + 1
                    break
                w.write(SLOW_HEAD[pos:pos + 1])
                pos = (pos + 1) % len(SLOW_HEAD)
            if not read.done():
                read.cancel()
        except OSError:
            stats["reset"] = stats.get("reset", 0) + 1
        finally:
            w.close()
        await asyncio.sleep(RECONNECT)


async def ws_open(port, src="127.0.0.1"):
    r, w = await asyncio.wait_for(open_from(port, src), IO)
    key = wsraw.new_key()
    w.write(wsraw.build_upgrade("/", key, f"127.0.0.1:{port}"))
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), IO)
    wsraw.check_101(head, key)
    return r, w


async def ws_echo(r, w, msg):
    w.write(frame(OP_TEXT, msg))
    head = await asyncio.wait_for(r.readexactly(2), IO)
    n = head[1] & 0x7F
    body = await asyncio.wait_for(r.readexactly(n), IO)
    eq((head[0], body), (0x81, msg), "echo")


async def ws_close(r, w):
    w.write(frame(OP_CLOSE, close_payload(1000)))
    h = await asyncio.wait_for(r.readexactly(4), IO)
    eq(h, bytes([0x88, 2]) + close_payload(1000), "close reply")
    w.close()


async def established_client(r, w, i, stop, latencies):
    k = 0
    while not stop.is_set():
        msg = f"established {i} #{k}".encode()
        t0 = time.monotonic()
        await ws_echo(r, w, msg)
        latencies.append(time.monotonic() - t0)
        k += 1
        await asyncio.sleep(0.2)
    await ws_close(r, w)


def legit_client(port, i):
    """Like a browser: the head goes out right behind the TCP handshake (a
    blocking socket in a thread of its own, not delayed by the attackers'
    event loop)."""
    t0 = time.monotonic()
    c = wsraw.Conn(port=port)
    try:
        c.handshake()
        c.echo(OP_TEXT, f"legit {i}")
        c.send(frame(OP_CLOSE, close_payload(1000)))
        c.expect_close(1000, reply=False)
    finally:
        c.close()
    return time.monotonic() - t0


def legit_wave(port, first, n):
    out = [None] * n

    def run(k):
        try:
            out[k] = legit_client(port, first + k)
        except Exception as e:  # noqa: BLE001 - reported as a failed client
            out[k] = e
    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


async def attack(port):
    established = [await ws_open(port) for _ in range(N_ESTABLISHED)]
    stop = asyncio.Event()
    stats = {"connects": 0, "connect_failed": 0}
    slow = [asyncio.create_task(slow_client(port, i, stats, stop)) for i in range(N_SLOW)]
    latencies = []
    est = [asyncio.create_task(established_client(r, w, i, stop, latencies))
           for i, (r, w) in enumerate(established)]
    await asyncio.sleep(ATTACK_RAMP)
    legit = []
    # In waves of three, so the honest clients arrive throughout the attack.
    for i in range(0, N_LEGIT, 3):
        legit += await asyncio.to_thread(legit_wave, port, i, min(3, N_LEGIT - i))
        await asyncio.sleep(0.1)
    stop.set()
    est_results = await asyncio.gather(*est, return_exceptions=True)
    await asyncio.gather(*slow, return_exceptions=True)
    return stats, legit, est_results, latencies


def slow_loris():
    srv, port = start(["--max-connections", str(MAX_CONN), "--handshake-timeout", "10"])
    with srv:
        stats, legit, est, latencies = asyncio.run(attack(port))
        served = [x for x in legit if not isinstance(x, BaseException)]
        failed = [x for x in legit if isinstance(x, BaseException)]
        est_failed = [x for x in est if isinstance(x, BaseException)]
        answers = {k: v for k, v in stats.items() if k not in ("connects", "connect_failed")}
        print(f"     {N_SLOW} slow clients, --max-connections {MAX_CONN}: {stats['connects']} "
              f"slow connects, answers {answers}; legit served {len(served)}/{N_LEGIT} "
              f"(slowest {max(served, default=0):.3f}s); established echoes "
              f"{len(latencies)}, slowest {max(latencies, default=0):.3f}s, failed "
              f"{len(est_failed)}/{N_ESTABLISHED}", flush=True)
        check(not failed, f"{len(failed)}/{N_LEGIT} legitimate clients failed; first: "
              f"{failed[:1]!r}")
        check(not est_failed, f"{len(est_failed)} established clients failed; first: "
              f"{est_failed[:1]!r}")
        check(max(latencies) < 1.0, f"slowest established echo {max(latencies):.3f}s")
        check(srv.proc.poll() is None, "server died")
        eq(srv.terminate(wsraw.CLOSE_TIMEOUT + 5), 0, "exit status after SIGTERM")


def http_status_within(sock, timeout):
    """The status of an HTTP answer arriving within timeout, or None."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(256)
    except socket.timeout:
        return None
    except ConnectionResetError:
        return "reset"
    m = re.match(rb"HTTP/1\.1 (\d+)", data)
    return int(m.group(1)) if m else ("eof" if not data else data[:20])


def per_ip_cap():
    cap, n_abusive = 8, 40
    srv, port = start(["--max-connections", "200", "--max-handshakes", "100",
                       "--max-handshakes-per-ip", str(cap), "--handshake-timeout", "10"])
    with srv:
        abusive = []
        try:
            for _ in range(n_abusive):
                s = socket.socket()
                s.bind(("127.0.0.2", 0))
                s.connect(("127.0.0.1", port))
                abusive.append(s)
            statuses = [http_status_within(s, 0.05) for s in abusive]
            time.sleep(0.5)
            statuses = [st if st is not None else http_status_within(s, 0.01)
                        for s, st in zip(abusive, statuses)]
            held = statuses.count(None)
            refused = statuses.count(429)
            print(f"     one address, {n_abusive} silent connections, "
                  f"--max-handshakes-per-ip {cap}: {held} held, {refused} got 429, "
                  f"others {[x for x in statuses if x not in (None, 429)]}", flush=True)
            check(1 <= held <= cap, f"{held} handshakes held for one address, cap {cap}")
            eq(refused, n_abusive - held, "429 answers for the rest")

            async def others():
                for i in range(10):
                    r, w = await ws_open(port, f"127.0.0.{3 + i}")
                    await ws_echo(r, w, f"other address {i}".encode())
                    await ws_close(r, w)
            asyncio.run(others())
            # The capped address is still capped while its handshakes are held.
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", port))
            abusive.append(s)
            eq(http_status_within(s, IO), 429, "a new connection from the capped address")
        finally:
            for s in abusive:
                s.close()
        eq(srv.terminate(wsraw.CLOSE_TIMEOUT + 5), 0, "exit status after SIGTERM")


def refusal_lines(log):
    """{status: refusals} from the full lines (1 each) and the summaries."""
    counts, lines = {}, 0
    for line in log.splitlines():
        m = re.match(r"wsgate: refused fd -?\d+: (\d+) ", line)
        if m:
            n, status = 1, int(m.group(1))
        else:
            m = re.match(r"wsgate: refused (\d+) more with (\d+) in the last", line)
            if not m:
                continue
            n, status = int(m.group(1)), int(m.group(2))
        lines += 1
        counts[status] = counts.get(status, 0) + n
    return counts, lines


def bad_request(port, raw):
    with socket.create_connection(("127.0.0.1", port), timeout=IO) as s:
        s.sendall(raw)
        return http_status_within(s, IO)


def log_flood():
    n_threads, per_thread, n_silent = 8, 150, 40
    srv, port = start(["--handshake-timeout", "1"])
    with srv:
        silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(n_silent)]
        got = {}
        lock = threading.Lock()
        big = wsraw.build_upgrade("/", None, "127.0.0.1")[:-2] + b"X-Big: " + b"a" * 9000 \
            + b"\r\n\r\n"

        def flood(t):
            mine = {}
            for i in range(per_thread):
                raw = big if i % 5 == 0 else b"\x16\x03\x01\x02\x00\r\n\r\n"
                st = bad_request(port, raw)
                mine[st] = mine.get(st, 0) + 1
            with lock:
                for k, v in mine.items():
                    got[k] = got.get(k, 0) + v
        t0 = time.monotonic()
        threads = [threading.Thread(target=flood, args=(t,)) for t in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for s in silent:
            got_408 = http_status_within(s, IO)
            got[got_408] = got.get(got_408, 0) + 1
            s.close()
        seconds = time.monotonic() - t0
        eq(srv.terminate(wsraw.CLOSE_TIMEOUT + 5), 0, "exit status after SIGTERM")
        counts, lines = refusal_lines(srv.log())
        total = n_threads * per_thread + n_silent
        # At most a full line and a summary per status, per loop, per second
        # begun, plus the last summaries written at shutdown.
        bound = 3 * THREADS * 2 * (int(seconds) + 2)
        print(f"     {total} refusals in {seconds:.1f}s (answers {got}): {lines} log lines "
              f"(bound {bound}), counts {counts}", flush=True)
        eq(got, {400: n_threads * per_thread * 4 // 5, 431: n_threads * per_thread // 5,
                 408: n_silent}, "answers")
        eq(counts, got, "refusals counted in the log, per status")
        check(lines <= bound, f"{lines} refusal log lines for {total} refusals, bound {bound}")


try:
    suite.run(f"{N_SLOW} slow-loris heads vs --max-connections {MAX_CONN}: {N_LEGIT} new "
              f"clients and {N_ESTABLISHED} established ones served", slow_loris)
    suite.run("one address over --max-handshakes-per-ip gets 429, other addresses served",
              per_ip_cap)
    suite.run("flood of 400/431/408 refusals: bounded log lines, counts add up", log_flood)
finally:
    pass
suite.finish()
