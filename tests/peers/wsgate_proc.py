"""Starting and stopping wsgate instances owned by one suite.

Suites that need their own flags (listeners, --trace, --workers, a small
--max-queued-bytes) start the binary directly, never through a shell, so the
PID they hold is the server's own. Every instance is stopped by its PID
(SIGTERM, then SIGKILL after a grace period) even when a case fails.
"""

import os
import signal
import socket
import subprocess
import tempfile
import time

import wsraw

START_TIMEOUT = 10.0


def free_port(families=(socket.AF_INET,)):
    """A TCP port free on 127.0.0.1 (and on ::1 when AF_INET6 is asked for)."""
    hosts = {socket.AF_INET: "127.0.0.1", socket.AF_INET6: "::1"}
    for _ in range(50):
        s = socket.socket(families[0])
        s.bind((hosts[families[0]], 0))
        port = s.getsockname()[1]
        others = []
        try:
            for fam in families[1:]:
                o = socket.socket(fam)
                others.append(o)
                o.bind((hosts[fam], port))
        except OSError:
            continue
        finally:
            s.close()
            for o in others:
                o.close()
        return port
    raise wsraw.Failure("no free port")


class Server:
    """One wsgate process; stderr and stdout go to files read by the test."""

    def __init__(self, binary, args, wait_lines=1):
        self.binary = binary
        self.args = list(args)
        fd, self.err_path = tempfile.mkstemp(prefix="wsgate-err.")
        self.err = os.fdopen(fd, "wb")
        fd, self.out_path = tempfile.mkstemp(prefix="wsgate-out.")
        self.out = os.fdopen(fd, "wb")
        self.proc = subprocess.Popen([binary] + self.args, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.returncode = None
        if wait_lines:
            self.wait_for(lambda log: log.count("wsgate: listening on ") >= wait_lines,
                          START_TIMEOUT, "the listening lines")

    def log(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_for(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if pred(text):
                return text
            if self.proc.poll() is not None:
                raise wsraw.Failure(f"wsgate exited ({self.proc.returncode}) waiting for {what}; "
                                    f"log: {text[-400:]!r}")
            if time.monotonic() > deadline:
                raise wsraw.Failure(f"no {what} within {timeout}s; log: {text[-400:]!r}")
            time.sleep(0.05)

    def children(self):
        """PIDs of the server's child processes (its --workers)."""
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def terminate(self, timeout):
        """SIGTERM; returns the exit status, or None if it did not exit in time
        (then it is killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        return self.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self):
        """Always-safe cleanup: ends the process (and lingering workers) by PID,
        removes the log files."""
        kids = self.children()
        if self.proc.poll() is None:
            self.terminate(wsraw.CLOSE_TIMEOUT + 5)
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for f, p in ((self.err, self.err_path), (self.out, self.out_path)):
            f.close()
            try:
                os.unlink(p)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def run_flags(binary, args, timeout=5.0):
    """Runs wsgate expecting it to exit by itself; returns (rc, stdout, stderr).
    A process still running after `timeout` is killed and is a failure."""
    p = subprocess.Popen([binary] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise wsraw.Failure(f"wsgate {' '.join(args)} still running after {timeout}s")
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise wsraw.Failure("no VmRSS")
