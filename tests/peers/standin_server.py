#!/usr/bin/python3
"""Stand-in echo server (python3-websockets) for developing the peer suites
before wsgate exists. NOT a test target: it does not implement the whole
contract (no 405/431/426 details, its own close reasons).

Usage: standin_server.py --listen 127.0.0.1:PORT [ignored wsgate flags...]
"""

import asyncio
import http
import signal
import sys

import websockets

PAGE = b"""<!doctype html><meta charset=utf-8><title>wsgate stand-in</title>
<p id=status>connecting</p><input id=msg><button id=send>send</button><div id=log></div>
<script>
const ws = new WebSocket((location.protocol==='https:'?'wss://':'ws://')+location.host+'/');
ws.onopen = () => { document.getElementById('status').textContent = 'open'; };
ws.onclose = () => { document.getElementById('status').textContent = 'closed'; };
ws.onmessage = (e) => { const d = document.createElement('div'); d.textContent = e.data;
  document.getElementById('log').appendChild(d); };
document.getElementById('send').onclick = () => ws.send(document.getElementById('msg').value);
</script>
"""


async def process_request(path, headers):
    if "upgrade" in headers.get("Connection", "").lower():
        return None
    if path == "/healthz":
        return http.HTTPStatus.OK, [("Content-Type", "text/plain")], b"ok\n"
    if path == "/":
        return http.HTTPStatus.OK, [("Content-Type", "text/html; charset=utf-8")], PAGE
    return http.HTTPStatus.NOT_FOUND, [("Content-Type", "text/plain")], b"not found\n"


async def echo(ws):
    try:
        async for msg in ws:
            await ws.send(msg)
    except websockets.ConnectionClosed:
        pass


async def main():
    listen = sys.argv[sys.argv.index("--listen") + 1]
    host, _, port = listen.rpartition(":")
    stop = asyncio.get_running_loop().create_future()
    for s in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(s, stop.set_result, None)
    async with websockets.serve(echo, host, int(port), process_request=process_request,
                                max_size=16 << 20, compression=None, ping_interval=None,
                                max_queue=None):
        print(f"wsgate: listening on {listen} (stand-in)", file=sys.stderr, flush=True)
        await stop


asyncio.run(main())
