#!/usr/bin/python3
"""An upstream that says who it is: a python3-websockets server for the
proxy's balancing and health-check suites.

  ident_upstream.py HOST PORT

Each WebSocket connection first gets one text message, JSON
{"port", "path", "headers", "subprotocol"} (the port identifies the server;
subprotocol "superchat" is chosen when offered), then every message echoed.
`GET /healthz` answers 200 "ok" while the file HOST-PORT.down named by
$IDENT_DOWN_DIR does not exist, else 503 (so a test can fail a server's
active health check without killing it). Prints "ready" once listening.
"""

import asyncio
import http
import json
import os
import sys

import websockets

HOST, PORT = sys.argv[1], int(sys.argv[2])
DOWN_FLAG = os.path.join(os.environ.get("IDENT_DOWN_DIR", "/nonexistent"), f"{PORT}.down")


async def process_request(path, headers):
    if path == "/healthz":
        if os.path.exists(DOWN_FLAG):
            return http.HTTPStatus.SERVICE_UNAVAILABLE, [("Content-Type", "text/plain")], b"down\n"
        return http.HTTPStatus.OK, [("Content-Type", "text/plain")], b"ok\n"
    return None


async def handle(ws, path):
    await ws.send(json.dumps({"port": PORT, "path": path,
                              "headers": list(ws.request_headers.raw_items()),
                              "subprotocol": ws.subprotocol}))
    async for m in ws:
        await ws.send(m)


async def main():
    async with websockets.serve(handle, HOST, PORT, process_request=process_request,
                                subprotocols=["superchat"], compression=None, close_timeout=1):
        print("ready", flush=True)
        await asyncio.Future()


asyncio.run(main())
