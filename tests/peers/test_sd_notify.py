#!/usr/bin/python3
"""The systemd notification protocol (sd_notify(3), Type=notify-reload).

  test_sd_notify.py WSGATE_BINARY BACKEND [CASE-FILTER...]

The test is systemd's side: it binds the AF_UNIX datagram socket itself
(a path, and an abstract "@name"), starts wsgate with NOTIFY_SOCKET naming
it, and reads what arrives: READY=1 once it serves, RELOADING=1 with
MONOTONIC_USEC (CLOCK_MONOTONIC in microseconds, as systemd asks) then
READY=1 around a SIGHUP reload (also a failed one: nothing changed, still
serving), STOPPING=1 on SIGTERM; with --workers 2 the parent reports, once
both workers serve. Each datagram is checked to come from the wsgate
process itself (SO_PASSCRED), as systemd's NotifyAccess=main requires.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import wsraw
from wsgate_proc import Server, free_port
from wsraw import check, eq

if len(sys.argv) < 3:
    print("usage: test_sd_notify.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("sd_notify")


class NotifySocket:
    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.dir = tempfile.mkdtemp(prefix="wsgate-notify.")
        if abstract:
            self.name = f"@wsgate-test-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + self.name[1:])
        else:
            self.name = os.path.join(self.dir, "notify")
            self.sock.bind(self.name)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def next(self, timeout=10):
        """(sender pid, {VAR: value}) of the next datagram."""
        self.sock.settimeout(timeout)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            raise wsraw.Failure(f"no notification within {timeout}s") from None
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
        return pid, fields

    def close(self):
        self.sock.close()
        if not self.name.startswith("@"):
            os.unlink(self.name)
        os.rmdir(self.dir)


def start(notify, flags, config_text="idle-timeout = 30\n"):
    fd, path = tempfile.mkstemp(prefix="wsgate-notify.", suffix=".toml")
    os.write(fd, config_text.encode())
    os.close(fd)
    port = free_port()
    os.environ["NOTIFY_SOCKET"] = notify.name
    try:
        srv = Server(BIN, ["--config", path, "--listen", f"127.0.0.1:{port}", "--backend",
                           BACKEND, "--close-timeout", "1"] + flags, wait_lines=0)
    finally:
        del os.environ["NOTIFY_SOCKET"]
    return srv, path


def expect(notify, srv, want, what):
    pid, fields = notify.next()
    eq(pid, srv.pid, f"{what}: sender")
    for k, v in want.items():
        eq(fields.get(k), v, f"{what}: {k} in {fields}")
    return fields


def lifecycle(abstract):
    notify = NotifySocket(abstract)
    srv, path = start(notify, ["--threads", "2"])
    try:
        expect(notify, srv, {"READY": "1"}, "start-up")
        check("wsgate: listening on " in srv.log(), "READY=1 comes once listening")
        wsraw.fresh_echo(int(srv.args[srv.args.index("--listen") + 1].rsplit(":", 1)[1]))
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        with open(path, "w") as f:
            f.write("idle-timeout = 20\n")
        os.kill(srv.pid, signal.SIGHUP)
        fields = expect(notify, srv, {"RELOADING": "1"}, "reload")
        usec = int(fields["MONOTONIC_USEC"])
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        check(before <= usec <= after, f"MONOTONIC_USEC {usec} not within [{before}, {after}]")
        expect(notify, srv, {"READY": "1"}, "after the reload")
        with open(path, "w") as f:
            f.write("idle-timeout = \"x\"\n")
        os.kill(srv.pid, signal.SIGHUP)
        expect(notify, srv, {"RELOADING": "1"}, "failed reload")
        expect(notify, srv, {"READY": "1"}, "after the failed reload")
        srv.proc.send_signal(signal.SIGTERM)
        expect(notify, srv, {"STOPPING": "1"}, "SIGTERM")
        eq(srv.proc.wait(10), 0, "exit status")
    finally:
        srv.stop()
        os.unlink(path)
        notify.close()


def workers():
    notify = NotifySocket()
    srv, path = start(notify, ["--workers", "2", "--threads", "1"])
    try:
        expect(notify, srv, {"READY": "1"}, "start-up")
        srv.wait_for(lambda log: "wsgate: listening on " in log, 5, "the listening line")
        os.kill(srv.pid, signal.SIGHUP)
        expect(notify, srv, {"RELOADING": "1"}, "reload")
        expect(notify, srv, {"READY": "1"}, "after the reload")
        srv.wait_for(lambda log: log.count("wsgate: reloaded (settings generation 2)") == 2, 5,
                     "both workers reloaded")
        srv.proc.send_signal(signal.SIGTERM)
        expect(notify, srv, {"STOPPING": "1"}, "SIGTERM")
        eq(srv.proc.wait(10), 0, "exit status")
        # Nothing from the workers themselves.
        notify.sock.settimeout(0.3)
        try:
            extra = notify.sock.recv(4096)
            raise wsraw.Failure(f"unexpected notification {extra!r}")
        except socket.timeout:
            pass
    finally:
        srv.stop()
        os.unlink(path)
        notify.close()


def without_systemd():
    # No NOTIFY_SOCKET: serves and reloads as usual, sends nothing.
    port = free_port()
    env_had = os.environ.pop("NOTIFY_SOCKET", None)
    try:
        with Server(BIN, ["--listen", f"127.0.0.1:{port}", "--backend", BACKEND]) as srv:
            wsraw.fresh_echo(port)
    finally:
        if env_had is not None:
            os.environ["NOTIFY_SOCKET"] = env_had


def unit_file_verifies():
    # contrib/systemd/wsgate.service as systemd-analyze reads it, with
    # ExecStart pointing at the binary under test.
    unit = os.path.join(os.path.dirname(__file__), "..", "..", "contrib", "systemd",
                        "wsgate.service")
    with open(unit) as f:
        text = f.read()
    check("Type=notify" in text and "ExecReload=/bin/kill -HUP $MAINPID" in text and
          "LimitNOFILE=" in text, "unit essentials")
    d = tempfile.mkdtemp(prefix="wsgate-unit.")
    try:
        path = os.path.join(d, "wsgate.service")
        with open(path, "w") as f:
            f.write(text.replace("/usr/local/bin/wsgate", os.path.abspath(BIN)))
        r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True,
                           timeout=30)
        eq((r.returncode, r.stderr.strip()), (0, ""), "systemd-analyze verify")
    finally:
        shutil.rmtree(d)


suite.run("READY, RELOADING with MONOTONIC_USEC, READY after a failed reload, STOPPING (path)",
          lifecycle, False)
suite.run("the same on an abstract socket (@name)", lifecycle, True)
suite.run("--workers 2: the parent reports, workers stay silent", workers)
suite.run("no NOTIFY_SOCKET: serves as usual", without_systemd)
if shutil.which("systemd-analyze"):
    suite.run("contrib/systemd/wsgate.service passes systemd-analyze verify", unit_file_verifies)
else:
    suite.skip("contrib/systemd/wsgate.service passes systemd-analyze verify",
               "no systemd-analyze")
suite.finish()
