#!/usr/bin/python3
"""Graceful shutdown: with a client connected, SIGTERM to PID makes the server
send close 1001 to it; the client answers and the server closes TCP.
(run_peers.sh then checks the exit status is 0.)  Usage: test_shutdown.py PID"""

import os
import signal
import sys

import wsraw
from wsraw import OP_BINARY, OP_TEXT


def main():
    pid = int(sys.argv[1])
    with wsraw.Conn() as c:
        c.handshake()
        c.echo(OP_TEXT, "before shutdown")
        c.echo(OP_BINARY, b"\x00\xff" * 100)
        os.kill(pid, signal.SIGTERM)
        f = c.expect_close(1001, timeout=5)
        print(f"ok   shutdown: got close 1001 reason {f.payload[2:]!r}, TCP closed")


main()
