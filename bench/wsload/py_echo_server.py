#!/usr/bin/python3
"""A tiny third-party WebSocket echo server (Debian's python3-websockets) to test
wsload's WebSocket modes against a peer that is not wsgate, and to compare with.

usage: /usr/bin/python3 bench/wsload/py_echo_server.py [PORT] [MAX_SECONDS]
"""
import asyncio
import sys

import websockets


async def echo(ws, path=None):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass  # a client that closes with echoes in flight is normal under load


async def main(port, max_seconds):
    async with websockets.serve(echo, "127.0.0.1", port, max_size=None, compression=None,
                                ping_interval=None):
        print(f"py_echo_server: listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
        await asyncio.sleep(max_seconds)  # bounded: stops by itself


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9001
    max_seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 600
    asyncio.run(main(port, max_seconds))
