#!/usr/bin/python3
"""TLS cost, side by side in one run (scripts/bench.sh --tls):
  - echo over wss:// vs ws:// (Node `ws` load, one message in flight per
    connection): 1000 x 16 B, 1000 x 1 KiB, 100 x 64 KiB - messages/s and
    server CPU per message (from /proc/PID/stat over the measured window);
  - handshakes: `openssl s_time -new` (full, TLS 1.3) against an ECDSA
    P-256 and an RSA 2048 certificate, `-reuse` (resumed; TLS 1.2, as
    s_time never reads a TLS 1.3 ticket); handshakes/s and server CPU per
    handshake;
  - server RSS per idle TLS connection at 10 000 connections (vs plain).
wsgate runs with --threads 1 pinned to core 1, clients on core 0. The
machine may be shared: compare ratios within a run.
  bench_tls.py WSGATE_BINARY [--quick]
"""

import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "peers"))
from tls_certs import TestPki  # noqa: E402
from wsgate_proc import Server, free_port, rss_kib  # noqa: E402

BIN = sys.argv[1]
QUICK = "--quick" in sys.argv
SECONDS = 3 if QUICK else 8
LOAD = os.path.join(HERE, "..", "bench", "tls_echo_load.mjs")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def start(cert, key, backend="io_uring"):
    tls_port, plain_port = free_port(), free_port()
    srv = Server("taskset", ["-c", "1", BIN, "--backend", backend, "--threads", "1",
                             "--deflate", "off", "--listen", f"127.0.0.1:{tls_port},tls",
                             "--listen", f"127.0.0.1:{plain_port}", "--tls-cert", cert,
                             "--tls-key", key, "--max-handshakes", "50000",
                             "--max-handshakes-per-ip", "50000", "--idle-timeout", "600"],
                 wait_lines=2)
    return srv, tls_port, plain_port


def echo(srv, url, conns, size, ca=None, seconds=SECONDS):
    args = ["taskset", "-c", "0", "node", LOAD, url, str(conns), str(size), str(seconds)]
    if ca:
        args.append(ca)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if line.strip() != "measuring":
        p.kill()
        raise RuntimeError(f"load did not start: {line!r}")
    c0 = cpu_seconds(srv.pid)
    out = p.stdout.readline()
    c1 = cpu_seconds(srv.pid)
    p.wait(30)
    m = re.match(r"messages (\d+) seconds ([\d.]+)", out)
    n, s = int(m.group(1)), float(m.group(2))
    return n / s, (c1 - c0) * 1e6 / max(n, 1)


def handshakes(srv, port, ca, mode, version):
    c0 = cpu_seconds(srv.pid)
    t0 = time.monotonic()
    r = subprocess.run(["taskset", "-c", "0", "openssl", "s_time", "-connect",
                        f"127.0.0.1:{port}", mode, version, "-time", str(SECONDS), "-CAfile", ca],
                       capture_output=True, text=True, timeout=SECONDS + 30)
    wall = time.monotonic() - t0  # s_time's own "in X.XXs" is its user CPU time
    c1 = cpu_seconds(srv.pid)
    m = re.search(r"(\d+) connections in [\d.]+s;", r.stdout)
    n = int(m.group(1))
    return n / wall, (c1 - c0) * 1e6 / max(n, 1)


def idle(srv, url, conns, ca=None):
    base = rss_kib(srv.pid)
    args = ["taskset", "-c", "0", "node", LOAD, url, str(conns), "0", "4"]
    if ca:
        args.append(ca)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "measuring":
        p.kill()
        raise RuntimeError("idle connections did not open")
    time.sleep(2.5)  # a quiet second: record buffers swept
    per = (rss_kib(srv.pid) - base) * 1024 / conns
    p.stdout.readline()
    p.wait(30)
    time.sleep(1)
    return per


def main():
    pki = TestPki()
    ec_cert, ec_key = pki.leaf("localhost", ["DNS:localhost", "IP:127.0.0.1"], "ec")
    rsa_cert, rsa_key = pki.leaf("rsa.localhost", ["DNS:localhost", "IP:127.0.0.1"], "rsa")
    idle_conns = 2000 if QUICK else 10000
    print(f"# wsgate TLS cost ({'quick, ' if QUICK else ''}{SECONDS} s per figure, "
          f"--threads 1 pinned to core 1, clients on core 0)")
    try:
        srv, tls_port, plain_port = start(ec_cert, ec_key)
        with srv:
            # Idle first: the echo loads leave freed memory that new
            # connections would reuse.
            plain_idle = idle(srv, f"ws://127.0.0.1:{plain_port}/", idle_conns)
            tls_idle = idle(srv, f"wss://localhost:{tls_port}/", idle_conns, pki.ca)
            print("| echo load | plain msg/s | TLS msg/s | TLS/plain | plain us/msg | "
                  "TLS us/msg |")
            print("| --- | ---: | ---: | ---: | ---: | ---: |")
            for conns, size in ((1000, 16), (1000, 1024), (100, 65536)):
                plain = echo(srv, f"ws://127.0.0.1:{plain_port}/", conns, size)
                tls = echo(srv, f"wss://localhost:{tls_port}/", conns, size, pki.ca)
                print(f"| {conns} x {size} B | {plain[0]:.0f} | {tls[0]:.0f} | "
                      f"{tls[0] / plain[0]:.2f} | {plain[1]:.2f} | {tls[1]:.2f} |", flush=True)
            full_ec = handshakes(srv, tls_port, pki.ca, "-new", "-tls1_3")
            # s_time does not wait for a TLS 1.3 ticket (it would never resume):
            # resumption is timed with TLS 1.2 tickets.
            resumed = handshakes(srv, tls_port, pki.ca, "-reuse", "-tls1_2")
            srv.terminate(10)
        srv, tls_port, _ = start(rsa_cert, rsa_key)
        with srv:
            full_rsa = handshakes(srv, tls_port, pki.ca, "-new", "-tls1_3")
            srv.terminate(10)
        print()
        print("| handshakes (openssl s_time) | per second | server us each |")
        print("| --- | ---: | ---: |")
        print(f"| full TLS 1.3, ECDSA P-256 | {full_ec[0]:.0f} | {full_ec[1]:.0f} |")
        print(f"| full TLS 1.3, RSA 2048 | {full_rsa[0]:.0f} | {full_rsa[1]:.0f} |")
        print(f"| resumed TLS 1.2 (ticket), ECDSA | {resumed[0]:.0f} | {resumed[1]:.0f} |")
        print()
        print(f"idle connections ({idle_conns}): plain {plain_idle:.0f} B, TLS {tls_idle:.0f} B "
              "of server RSS each")
    finally:
        pki.remove()


if __name__ == "__main__":
    main()
