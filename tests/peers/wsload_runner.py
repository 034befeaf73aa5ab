"""Running bench/wsload from a peer suite.

The suites that drive load with wsload take it from next to the binary under
test (build/X/src/gateway/wsgate -> build/X/bench/wsload); a sanitizer build
has no benchmarks, so the release build's wsload drives it then. Its report
comes back through --json in a temporary file removed afterwards.
"""

import json
import os
import subprocess
import tempfile

import wsraw

HERE = os.path.dirname(os.path.abspath(__file__))


def wsload_path(binary):
    """wsload beside `binary`'s build, else the release build's."""
    path = os.path.join(os.path.dirname(os.path.abspath(binary)), "..", "..", "bench", "wsload")
    if not os.access(path, os.X_OK):
        path = os.path.join(HERE, "..", "..", "build", "release", "bench", "wsload")
    return path


def available(wsload):
    return os.access(wsload, os.X_OK)


class JsonReport:
    """A temporary path for wsload's --json report (and one beside it for a
    --ready-file), read back by load() and both removed on exit."""

    def __init__(self, prefix):
        fd, self.path = tempfile.mkstemp(prefix=prefix, suffix=".json")
        os.close(fd)
        self.ready = self.path + ".ready"

    def load(self):
        with open(self.path) as f:
            return json.load(f)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in (self.path, self.ready):
            if os.path.exists(p):
                os.unlink(p)


def run_json(wsload, args, prefix="wsload.", timeout=60):
    """Runs wsload to its end with `args` plus --json; a non-zero exit is a
    failure. Returns (the report, wsload's stdout)."""
    with JsonReport(prefix) as report:
        p = subprocess.run([wsload, *args, "--json", report.path], capture_output=True, text=True,
                           timeout=timeout)
        if p.returncode != 0:
            raise wsraw.Failure(f"wsload exit status {p.returncode}; stderr {p.stderr[-400:]!r}")
        return report.load(), p.stdout
