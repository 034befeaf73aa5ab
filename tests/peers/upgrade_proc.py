"""wsgate for live-upgrade tests: run from a private copy of the binary (so a
case can replace or remove the file at that path, as an operator's package
upgrade does) and followed across upgrades. The test process becomes a
child subreaper: an old process's successor is reparented to it, so every
generation's exit status is seen and every process is ended by its PID.
"""

import ctypes
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import wsraw
from wsgate_proc import free_port, rss_kib
from wsraw import check, eq

PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


class Gateway:
    """wsgate from a private copy of the binary, followed across upgrades."""

    def __init__(self, binary, backend, extra=(), admin=False):
        self.dir = tempfile.mkdtemp(prefix="wsgate-upgrade.")
        self.path = os.path.join(self.dir, "wsgate")
        shutil.copy2(binary, self.path)
        self.port = free_port()
        self.admin_port = free_port() if admin else None
        args = ["--listen", f"127.0.0.1:{self.port}", "--backend", backend, "--threads", "2",
                "--close-timeout", "2"] + list(extra)
        if admin:
            args += ["--admin-listen", f"127.0.0.1:{self.admin_port}"]
        self.err_path = os.path.join(self.dir, "stderr.log")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([self.path] + args, stdout=self.err, stderr=self.err,
                                     stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.pids = [self.pid]  # every generation, to end them all by PID
        self.wait_for(lambda log: "wsgate: listening on " in log, 10, "the listening line")

    def log(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_for(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if pred(text):
                return text
            if time.monotonic() > deadline:
                raise wsraw.Failure(f"no {what} within {timeout}s; log ends: {text[-600:]!r}")
            time.sleep(0.02)

    def upgrade(self, via="signal", timeout=30):
        """Starts an upgrade and follows it to its end: returns the number of
        connections the new process took; the old one must exit 0."""
        old = self.pid
        before = self.log().count("upgrade: started ")
        if via == "signal":
            os.kill(old, signal.SIGUSR2)
        else:
            req = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}/admin/upgrade",
                                         method="POST", data=b"")
            with urllib.request.urlopen(req, timeout=5) as r:
                eq(r.status, 202, "POST /admin/upgrade status")
        text = self.wait_for(lambda log: log.count("upgrade: started ") > before, 10,
                             "the new process")
        new = int(re.findall(r"upgrade: started \S+ as process (\d+)", text)[-1])
        self.pids.append(new)
        text = self.wait_for(lambda log: f"process {new} took " in log or
                             "upgrade failed" in log[log.rfind("upgrade: started "):],
                             timeout, "the end of the handover")
        check(f"process {new} took " in text, f"upgrade failed: {text[-500:]!r}")
        eq(wait_exit(old, 10), 0, "the old process's exit status")
        self.pid = new
        return int(re.search(rf"process {new} took (\d+) connections", text).group(1))

    def upgrade_fails(self):
        """SIGUSR2 with a broken binary at the path: the process carries on."""
        count = self.log().count("upgrade failed, this process carries on")
        os.kill(self.pid, signal.SIGUSR2)
        text = self.wait_for(
            lambda log: log.count("upgrade failed, this process carries on") > count, 15,
            "the failure line")
        check(alive(self.pid), "the old process still runs")
        return text[text.rfind("upgrade failed"):].splitlines()[0]

    def stop(self):
        for pid in self.pids:
            if alive(pid):
                os.kill(pid, signal.SIGTERM)
                if wait_exit(pid, 8) is None:
                    os.kill(pid, signal.SIGKILL)
                    wait_exit(pid, 5)
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def wait_exit(pid, timeout):
    """The exit status of a child (or an orphan reparented to this subreaper),
    or None if it is still running after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None if alive(pid) else -1
        if got == pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    return None


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def upgrade_twice_under_load(gw, descriptors, want, what=lambda taken: f"{taken} connections",
                             vias=("signal", "signal"), extra=lambda log: ""):
    """Once the process holds `descriptors` descriptors (the load is up),
    upgrades twice, each taking `want` connections; returns a line per
    upgrade: what moved, descriptors and RSS of the old and the new process,
    the hand-over time on each side, and extra(log)."""
    deadline = time.monotonic() + 60
    while fd_count(gw.pid) < descriptors and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    stats = []
    for round_, via in enumerate(vias, start=1):
        old = gw.pid
        before = (fd_count(old), rss_kib(old))
        taken = gw.upgrade(via=via, timeout=60)
        after = (fd_count(gw.pid), rss_kib(gw.pid))
        log = gw.log()
        ms = re.findall(r"handed over (\d+) connections in (\d+) ms", log)[-1]
        took = re.findall(r"took (\d+) of (\d+) connections in (\d+) ms", log)[-1]
        stats.append(f"upgrade {round_}: {what(taken)} moved; old pid {old} {before[0]} fds "
                     f"{before[1]} KiB RSS; new pid {gw.pid} {after[0]} fds {after[1]} KiB RSS; "
                     f"old side {ms[1]} ms, new side {took[2]} ms{extra(log)}")
        eq(taken, want, f"connections moved in upgrade {round_}; log {log[-1500:]}")
        time.sleep(1.0)
    return stats
