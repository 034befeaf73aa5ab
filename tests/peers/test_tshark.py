#!/usr/bin/python3
"""Wireshark's dissector as an independent judge of the wire: capture one
connection on `lo` with tshark while a raw client does a handshake and sends
text, fragmented text, binary (7-, 16- and 64-bit lengths), ping and close.
Then tshark must see the 101 as an HTTP response and every frame, in both
directions, as WebSocket with the same opcode, FIN, mask bit and length as
the client sent / parsed (RFC 6455 §5.2)."""

import os
import signal
import subprocess
import tempfile
import time

import wsraw
from wsraw import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, check, eq, frame

suite = wsraw.Suite("tshark")
TSHARK = "/usr/bin/tshark"
PORT = wsraw.PORT


class RecordingConn(wsraw.Conn):
    def __init__(self):
        super().__init__()
        self.received = []

    def read_frame(self):
        f = super().read_frame()
        self.received.append((f.opcode, int(f.fin), len(f.payload), 0))
        return f


def exchange():
    """Runs the client; returns (frames sent, frames received) as tuples
    (opcode, fin, payload length, mask bit)."""
    sent = []

    def send(op, payload, fin=True):
        c.send(frame(op, payload, fin=fin))
        sent.append((op, int(fin), len(payload), 1))

    with RecordingConn() as c:
        c.handshake()
        send(OP_TEXT, b"hello tshark")
        eq(c.read_message(), (OP_TEXT, b"hello tshark"), "text echo")
        send(OP_TEXT, "frag ☃ ".encode(), fin=False)
        send(OP_CONT, "ment".encode(), fin=True)
        eq(c.read_message(), (OP_TEXT, "frag ☃ ment".encode()), "fragmented echo")
        for n in (0, 200, 70000):
            blob = bytes((i * 13) & 0xFF for i in range(n))
            send(OP_BINARY, blob)
            eq(c.read_message(), (OP_BINARY, blob), f"binary {n} echo")
        send(OP_PING, b"ping!")
        f = c.read_frame()
        eq((f.opcode, f.payload), (OP_PONG, b"ping!"), "pong")
        send(OP_CLOSE, wsraw.close_payload(1000))
        f = c.read_frame()
        eq((f.opcode, f.close_code()), (OP_CLOSE, 1000), "close reply")
        c.expect_eof(wsraw.CLOSE_TIMEOUT + 2)
        return sent, c.received


def capture_and_check():
    with tempfile.TemporaryDirectory() as tmp:
        pcap = os.path.join(tmp, "cap.pcap")
        errlog = open(os.path.join(tmp, "tshark.err"), "w+")
        # Bounded twice: tshark's own autostop, and `timeout` around it.
        cap = subprocess.Popen(["timeout", "-k", "2", "40", TSHARK, "-i", "lo", "-f",
                                f"tcp port {PORT}", "-a", "duration:30", "-w", pcap, "-q"],
                               stdout=subprocess.DEVNULL, stderr=errlog)
        try:
            deadline = time.monotonic() + 20
            while True:
                errlog.seek(0)
                if "Capturing on" in errlog.read():
                    break
                check(cap.poll() is None, f"tshark exited early: {open(errlog.name).read()}")
                check(time.monotonic() < deadline, "tshark did not start capturing in 20 s")
                time.sleep(0.1)
            time.sleep(0.3)  # the capture filter is live just after the message
            sent, received = exchange()
            time.sleep(0.5)  # let the last packets reach the capture
        finally:
            # SIGINT makes tshark (dumpcap) flush and finish the file.
            if cap.poll() is None:
                os.kill(cap.pid, signal.SIGINT)
            try:
                cap.wait(10)
            except subprocess.TimeoutExpired:
                cap.kill()
                cap.wait()
        check(os.path.exists(pcap), "no capture file")

        def read(*args):
            r = subprocess.run(["timeout", "30", TSHARK, "-r", pcap, "-d", f"tcp.port=={PORT},http",
                                *args], capture_output=True, text=True)
            check(r.returncode == 0, f"tshark -r failed: {r.stderr[-300:]}")
            return r.stdout

        state["read"] = read
        state["sent"], state["received"] = sent, received
        state["to_server"], state["to_client"] = dissect(read)


def dissect(read):
    if True:
        codes = read("-Y", "http.response.code == 101", "-T", "fields", "-e",
                     "http.response.code", "-e", "tcp.srcport").split()
        state["codes"] = codes

        fields = ["tcp.srcport", "websocket.opcode", "websocket.fin", "websocket.mask",
                  "websocket.payload_length", "websocket.payload_length_ext_16",
                  "websocket.payload_length_ext_64"]
        out = read("-Y", "websocket", "-T", "fields", "-E", "separator=/t", "-E",
                   "aggregator=,", "-E", "occurrence=a", *sum((["-e", f] for f in fields), []))
        to_server, to_client = [], []
        for line in out.splitlines():
            cols = [c.split(",") if c else [] for c in line.split("\t")]
            sport, ops, fins, masks, lens, ext16, ext64 = (cols + [[]] * 7)[:7]
            i16 = iter(ext16)
            i64 = iter(ext64)
            for op, fin, m, ln in zip(ops, fins, masks, lens):
                ln = int(ln)
                if ln == 126:
                    ln = int(next(i16))
                elif ln == 127:
                    ln = int(next(i64))
                rec = (int(op, 0), int(fin in ("1", "True")), ln, int(m in ("1", "True")))
                (to_client if sport[0] == str(PORT) else to_server).append(rec)
        return to_server, to_client


state = {}


def http_101():
    eq(state["codes"], ["101", str(PORT)], "101 seen as an HTTP response from the server")


def client_frames():
    eq(state["to_server"], state["sent"], "client->server frames as dissected by tshark")


def server_frames():
    to_client = state["to_client"]
    eq(to_client, state["received"], "server->client frames as dissected by tshark")
    # The server's echo, whatever its fragmentation, carries the same messages.
    ops = [op for op, fin, _, _ in to_client if op != OP_CONT]
    eq(ops, [OP_TEXT, OP_TEXT, OP_BINARY, OP_BINARY, OP_BINARY, OP_PONG, OP_CLOSE],
       "server message opcodes")
    check(all(m == 0 for *_, m in to_client), "server frames must not be masked")
    print(f"     tshark saw {len(state['to_server'])} client frames, {len(to_client)} server frames")


suite.run("capture a session on lo", capture_and_check)
if "to_client" in state:
    suite.run("101 seen as HTTP response", http_101)
    suite.run("client frames: opcode, FIN, mask, length", client_frames)
    suite.run("server frames: opcode, FIN, mask, length", server_frames)
suite.finish()
