"""Upstream servers for the proxy suites, as processes of their own stopped
by their PID: ident_upstream.py (python3-websockets; the first message on
each connection names the server's port) and node_echo_upstream.mjs (Node
`ws`). Shared by test_proxy_routing, test_proxy_health, test_proxy_balance
and test_proxy_reload.
"""

import json
import os
import socket
import subprocess
import sys
import time

import websockets

from wsraw import check

HERE = os.path.dirname(os.path.abspath(__file__))


def full_listener():
    """A listener whose accept queue is full: SYNs to it are dropped, so a
    connect to it neither succeeds nor fails until its timeout."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    fillers = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(lst.getsockname())
        except BlockingIOError:
            pass
        fillers.append(s)
    time.sleep(0.2)
    return lst, fillers


class Upstream:
    """A process that prints "ready" once listening (started at once)."""

    def __init__(self, argv, env=None):
        self.argv = list(argv)
        self.env = env
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, text=True, cwd=HERE, env=self.env)
        line = self.proc.stdout.readline()
        check(line.strip() == "ready", f"{self.argv[1]} did not start ({line!r})")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class IdentUpstream(Upstream):
    """ident_upstream.py on HOST:PORT. With down_dir, its GET /healthz
    answers 503 while set_failing(True) holds."""

    def __init__(self, port, host="127.0.0.1", down_dir=None):
        self.port = port
        self.down_dir = down_dir
        env = dict(os.environ, IDENT_DOWN_DIR=down_dir) if down_dir else None
        super().__init__([sys.executable, os.path.join(HERE, "ident_upstream.py"), host,
                          str(port)], env)

    def set_failing(self, failing):
        flag = os.path.join(self.down_dir, f"{self.port}.down")
        if failing:
            open(flag, "w").close()
        else:
            os.unlink(flag)


def node_echo(port):
    """node_echo_upstream.mjs on 127.0.0.1:PORT: echoes, permessage-deflate offered."""
    return Upstream(["node", os.path.join(HERE, "node_echo_upstream.mjs"), str(port)])


async def open_ident(port, path, headers=(), host="127.0.0.1"):
    """A WebSocket through the proxy on PORT to an ident upstream: (ws, the
    upstream's port)."""
    ws = await websockets.connect(f"ws://{host}:{port}{path}", extra_headers=list(headers),
                                  compression=None, open_timeout=10)
    info = json.loads(await ws.recv())
    return ws, info["port"]
