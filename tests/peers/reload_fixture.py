"""A wsgate started with --config FILE that a suite rewrites and reloads
(POST /admin/reload), shared by the reload suites (test_reload.py,
test_proxy_reload.py).

  inst = Instance(binary, backend, toml, flags=[...])
  inst.file.write(new_toml); answer = inst.reload(200); inst.wait_generation(2)
"""

import json
import os
import tempfile
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from wsgate_proc import Server, free_port
from wsraw import check, eq


class ConfigFile:
    def __init__(self, text):
        fd, self.path = tempfile.mkstemp(prefix="wsgate-reload.", suffix=".toml")
        os.close(fd)
        self.write(text)

    def write(self, text):
        # Written whole then renamed, as an editor or a deploy tool would:
        # a reload never reads half a file.
        tmp = self.path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.path)

    def remove(self):
        os.unlink(self.path)


class Instance:
    """wsgate --config FILE on a free port; with admin, --admin-listen and
    `threads` loops. Stopped by its PID on exit."""

    def __init__(self, binary, backend, toml, flags=(), admin=True, threads=2):
        self.file = ConfigFile(toml)
        self.port = free_port()
        self.admin = free_port() if admin else None
        self.threads = threads
        args = ["--config", self.file.path, "--listen", f"127.0.0.1:{self.port}",
                "--backend", backend, "--close-timeout", "2"]
        if admin:
            args += ["--admin-listen", f"127.0.0.1:{self.admin}", "--threads", str(threads)]
        try:
            self.srv = Server(binary, args + list(flags))
        except BaseException:
            self.file.remove()
            raise

    def request(self, path, method="GET"):
        req = urllib.request.Request(f"http://127.0.0.1:{self.admin}{path}", method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def reload(self, want_status):
        status, headers, body = self.request("/admin/reload", "POST")
        eq(status, want_status, f"POST /admin/reload status (body {body!r})")
        eq(headers.get("Content-Type"), "application/json", "reload answer type")
        return json.loads(body)

    def generations(self):
        _, _, text = self.request("/metrics")
        found = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "wsgate_settings_generation":
                    found[s.labels["loop"]] = s.value
        eq(len(found), self.threads, "loops with a settings generation")
        return found

    def wait_generation(self, want):
        deadline = time.monotonic() + 5
        while True:
            got = self.generations()
            if all(v == want for v in got.values()):
                return
            check(time.monotonic() < deadline, f"loops at generations {got}, want {want}")
            time.sleep(0.05)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.srv.stop()
        self.file.remove()
