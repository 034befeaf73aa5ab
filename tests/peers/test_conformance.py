#!/usr/bin/python3
"""Conformance cases in the spirit of Autobahn|Testsuite's fuzzingclient,
sections 1-10, written from RFC 6455 (case numbers in the names follow
Autobahn's layout). Each case runs on a fresh connection and passes only
strictly: exact echo, exact pong payloads in order, nothing unexpected, and
either a clean close (client 1000 → server 1000, TCP closed) or the exact
failure close code."""

import os
import time

import wsraw
from wsraw import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Conn, check,
                   close_payload, eq, frame)

suite = wsraw.Suite("conformance")


# --- case machinery ----------------------------------------------------------
class Send:
    """Bytes to send, optionally written in pieces of `piece` bytes with
    `delay` seconds between writes."""

    def __init__(self, data, piece=None, delay=0.0):
        self.data, self.piece, self.delay = data, piece, delay


class Echo:
    """Expect one reassembled data message."""

    def __init__(self, opcode, payload):
        self.opcode = opcode
        self.payload = payload.encode() if isinstance(payload, str) else payload


class Pong:
    def __init__(self, payload):
        self.payload = payload.encode() if isinstance(payload, str) else payload


class Sleep:
    def __init__(self, seconds):
        self.seconds = seconds


def F(opcode, payload=b"", **kw):
    return frame(opcode, payload, **kw)


def read_group(c, group):
    """Reads until every expected pong and message of `group` has arrived,
    in order within each kind. Pongs may come between the frames of an echo
    (control frames may be interleaved with fragments, RFC 6455 §5.4) and
    the server may stream an echo's first fragments before the message is
    complete: those frames are carried in c.carry to the next group."""
    pongs = [s.payload for s in group if isinstance(s, Pong)]
    msgs = [(s.opcode, s.payload) for s in group if isinstance(s, Echo)]
    while pongs or msgs:
        f = c.read_frame()
        if f.opcode == OP_PONG:
            check(pongs, f"unexpected pong {f!r}")
            eq(f.payload, pongs.pop(0), "pong payload")
        elif f.opcode in (OP_TEXT, OP_BINARY, OP_CONT):
            if c.carry:
                eq(f.opcode, OP_CONT, f"frame inside the echo of a message ({f!r})")
            else:
                check(f.opcode != OP_CONT, f"echo starts with a continuation {f!r}")
            c.carry.append(f)
            if f.fin:
                got = (c.carry[0].opcode, b"".join(x.payload for x in c.carry))
                c.carry = []
                check(msgs, f"unexpected message {got[0]} {wsraw._short(got[1])}")
                want = msgs.pop(0)
                eq(got[0], want[0], "echo opcode")
                eq(got[1], want[1], "echo payload")
        else:
            raise wsraw.Failure(f"unexpected {f!r}" + (
                f" code {f.close_code()}" if f.opcode == OP_CLOSE else ""))


def run_steps(c, steps):
    c.carry = []
    group = []
    for s in steps + [None]:
        if isinstance(s, (Echo, Pong)):
            group.append(s)
            continue
        if group:
            read_group(c, group)
            group = []
        if s is None:
            break
        if isinstance(s, bytes):
            s = Send(s)
        if isinstance(s, Send):
            try:
                if s.piece:
                    c.send_pieces(s.data, s.piece, s.delay)
                else:
                    c.send(s.data)
            except OSError:
                pass  # the server may already be failing the connection
        elif isinstance(s, Sleep):
            time.sleep(s.seconds)
        else:
            raise TypeError(s)


def case(name, steps, fail=None, close=True):
    """`fail`: the close code the server must fail with (nothing else may
    arrive first beyond the expected steps). Otherwise the case ends with a
    clean close 1000 checked strictly."""

    def body():
        with Conn() as c:
            c.handshake()
            run_steps(c, steps)
            if fail is not None:
                c.expect_close(fail, strict=True)
            elif close:
                c.send(F(OP_CLOSE, close_payload(1000)))
                c.expect_close(1000, reply=False, strict=True)

    suite.run(name, body)


def text_of(n):
    return (b"abcdefghij" * (n // 10 + 1))[:n]


def blob(n):
    return bytes((i * 131 + (i >> 9)) & 0xFF for i in range(n)) if n <= 65536 else \
        (os.urandom(65536) * (n // 65536 + 1))[:n]


# --- 1 framing ----------------------------------------------------------------
LENGTHS = [0, 125, 126, 127, 128, 65535, 65536]
for i, n in enumerate(LENGTHS, 1):
    case(f"1.1.{i} text {n} bytes", [F(OP_TEXT, text_of(n)), Echo(OP_TEXT, text_of(n))])
case("1.1.8 text 65536 bytes in 997-byte chunks",
     [Send(F(OP_TEXT, text_of(65536)), piece=997), Echo(OP_TEXT, text_of(65536))])
for i, n in enumerate(LENGTHS, 1):
    case(f"1.2.{i} binary {n} bytes", [F(OP_BINARY, blob(n)), Echo(OP_BINARY, blob(n))])
case("1.2.8 binary 65536 bytes in 997-byte chunks",
     [Send(F(OP_BINARY, blob(65536)), piece=997), Echo(OP_BINARY, blob(65536))])
for n in (0, 125, 126, 127, 128):
    case(f"1.x binary {n} bytes, every byte a separate write",
         [Send(F(OP_BINARY, blob(n)), piece=1, delay=0.0002), Echo(OP_BINARY, blob(n))])

# --- 2 ping/pong ----------------------------------------------------------------
case("2.1 ping without payload", [F(OP_PING), Pong(b"")])
case("2.2 ping with small text payload", [F(OP_PING, b"Hello, world!"), Pong(b"Hello, world!")])
case("2.3 ping with binary payload", [F(OP_PING, b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"),
                                      Pong(b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff")])
case("2.4 ping with 125-byte payload", [F(OP_PING, blob(125)), Pong(blob(125))])
case("2.5 ping with 126-byte payload -> 1002", [F(OP_PING, blob(126))], fail=1002)
case("2.6 ping 125 bytes sent 1 byte at a time",
     [Send(F(OP_PING, blob(125)), piece=1, delay=0.0005), Pong(blob(125))])
case("2.7 unsolicited pong without payload ignored", [F(OP_PONG)])
case("2.8 unsolicited pong with payload ignored", [F(OP_PONG, b"unsolicited pong payload")])
case("2.9 unsolicited pong, then ping", [F(OP_PONG, b"unsolicited"), F(OP_PING, b"solicited"),
                                         Pong(b"solicited")])
pings = [F(OP_PING, f"payload-{i}".encode()) for i in range(10)]
case("2.10 10 pings -> 10 pongs in order",
     [b"".join(pings)] + [Pong(f"payload-{i}".encode()) for i in range(10)])
case("2.11 10 pings sent in 1-byte pieces",
     [Send(b"".join(pings), piece=1, delay=0.0002)] + [Pong(f"payload-{i}".encode())
                                                       for i in range(10)])

# --- 3 reserved bits ----------------------------------------------------------------
case("3.1 text with RSV=1 -> 1002", [F(OP_TEXT, b"Hello, world!", rsv=1)], fail=1002)
case("3.2 text, text RSV=2, ping -> echo then 1002",
     [F(OP_TEXT, b"Hello") + F(OP_TEXT, b"Hello", rsv=2) + F(OP_PING, b"x"),
      Echo(OP_TEXT, "Hello")], fail=1002)
case("3.3 same, frame-wise", [F(OP_TEXT, b"Hello"), Echo(OP_TEXT, "Hello"),
                              F(OP_TEXT, b"Hello", rsv=3), F(OP_PING, b"x")], fail=1002)
case("3.4 same, in 1-byte chunks",
     [Send(F(OP_TEXT, b"Hello") + F(OP_TEXT, b"Hello", rsv=4) + F(OP_PING, b"x"), piece=1),
      Echo(OP_TEXT, "Hello")], fail=1002)
case("3.5 binary with RSV=5 -> 1002", [F(OP_BINARY, blob(8), rsv=5)], fail=1002)
case("3.6 ping with RSV=6 -> 1002", [F(OP_PING, b"x", rsv=6)], fail=1002)
case("3.7 close with RSV=7 -> 1002", [F(OP_CLOSE, close_payload(1000), rsv=7)], fail=1002)

# --- 4 reserved opcodes -----------------------------------------------------------
for group, ops in (("4.1", (3, 4, 5, 6, 7)), ("4.2", (0xB, 0xC, 0xD, 0xE, 0xF))):
    case(f"{group}.1 opcode {ops[0]} empty -> 1002", [F(ops[0])], fail=1002)
    case(f"{group}.2 opcode {ops[1]} with payload -> 1002", [F(ops[1], b"reserved")], fail=1002)
    for j, op in enumerate(ops[2:], 3):
        case(f"{group}.{j} text, opcode {op}, ping -> echo then 1002",
             [F(OP_TEXT, b"Hello") + F(op, b"x" * j) + F(OP_PING, b"p"),
              Echo(OP_TEXT, "Hello")], fail=1002)

# --- 5 fragmentation -----------------------------------------------------------------
case("5.1 ping in 2 fragments -> 1002",
     [F(OP_PING, b"frag1", fin=False) + F(OP_CONT, b"frag2")], fail=1002)
case("5.2 pong in 2 fragments -> 1002",
     [F(OP_PONG, b"frag1", fin=False) + F(OP_CONT, b"frag2")], fail=1002)
two = F(OP_TEXT, b"fragment1", fin=False) + F(OP_CONT, b"fragment2")
case("5.3 text in 2 fragments", [two, Echo(OP_TEXT, "fragment1fragment2")])
case("5.4 same, 1-byte chunks", [Send(two, piece=1), Echo(OP_TEXT, "fragment1fragment2")])
case("5.5 same, per frame with pause",
     [F(OP_TEXT, b"fragment1", fin=False), Sleep(0.05), F(OP_CONT, b"fragment2"),
      Echo(OP_TEXT, "fragment1fragment2")])
with_ping = F(OP_TEXT, b"fragment1", fin=False) + F(OP_PING, b"pongme!") + F(OP_CONT, b"fragment2")
case("5.6 text in 2 fragments, ping between",
     [with_ping, Pong(b"pongme!"), Echo(OP_TEXT, "fragment1fragment2")])
case("5.7 same, 1-byte chunks",
     [Send(with_ping, piece=1), Pong(b"pongme!"), Echo(OP_TEXT, "fragment1fragment2")])
case("5.8 same, per frame: pong arrives before the message ends",
     [F(OP_TEXT, b"fragment1", fin=False), F(OP_PING, b"pongme!"), Pong(b"pongme!"),
      F(OP_CONT, b"fragment2"), Echo(OP_TEXT, "fragment1fragment2")])
bad_start = F(OP_CONT, b"non-continuation payload") + F(OP_TEXT, b"Hello, world!")
case("5.9 continuation FIN=1 without start -> 1002", [bad_start], fail=1002)
case("5.10 same, per frame", [F(OP_CONT, b"non-continuation payload")], fail=1002)
case("5.11 same, 1-byte chunks", [Send(bad_start, piece=1)], fail=1002)
case("5.12 continuation FIN=0 without start -> 1002",
     [F(OP_CONT, b"non-continuation payload", fin=False) + F(OP_TEXT, b"Hello")], fail=1002)
case("5.13 same, per frame", [F(OP_CONT, b"x", fin=False)], fail=1002)
case("5.14 same, 1-byte chunks",
     [Send(F(OP_CONT, b"non-continuation payload", fin=False), piece=1)], fail=1002)
case("5.15 message, then stray continuations -> echo then 1002",
     [F(OP_TEXT, b"fragment1", fin=False) + F(OP_CONT, b"fragment2") +
      F(OP_CONT, b"fragment3", fin=False) + F(OP_TEXT, b"fragment4"),
      Echo(OP_TEXT, "fragment1fragment2")], fail=1002)
case("5.16 continuation, text, continuation -> 1002",
     [F(OP_CONT, b"fragment1", fin=False) + F(OP_TEXT, b"fragment2", fin=False) +
      F(OP_CONT, b"fragment3")], fail=1002)
case("5.17 continuation FIN=1, text, continuation -> 1002",
     [F(OP_CONT, b"fragment1") + F(OP_TEXT, b"fragment2", fin=False) + F(OP_CONT, b"fragment3")],
     fail=1002)
case("5.18 text FIN=0 then text FIN=1 -> 1002",
     [F(OP_TEXT, b"fragment1", fin=False) + F(OP_TEXT, b"fragment2")], fail=1002)
case("5.19 text in 5 fragments with pings between (per frame)",
     [F(OP_TEXT, b"fragment1", fin=False), F(OP_CONT, b"fragment2", fin=False),
      F(OP_PING, b"pongme 1!"), Pong(b"pongme 1!"), F(OP_CONT, b"fragment3", fin=False),
      Sleep(0.05), F(OP_CONT, b"fragment4", fin=False), F(OP_PING, b"pongme 2!"),
      Pong(b"pongme 2!"), F(OP_CONT, b"fragment5"),
      Echo(OP_TEXT, "fragment1fragment2fragment3fragment4fragment5")])
case("5.20 binary in 300 fragments of 1 byte",
     [b"".join(F(OP_BINARY if i == 0 else OP_CONT, bytes([i & 0xFF]), fin=(i == 299))
               for i in range(300)), Echo(OP_BINARY, bytes(i & 0xFF for i in range(300)))])
case("5.21 empty fragments around data",
     [F(OP_TEXT, b"", fin=False) + F(OP_CONT, b"", fin=False) + F(OP_CONT, b"mid", fin=False) +
      F(OP_CONT, b""), Echo(OP_TEXT, "mid")])
case("5.22 close between fragments ends the connection cleanly",
     [F(OP_TEXT, b"frag", fin=False)], close=True)

# --- 6 UTF-8 ---------------------------------------------------------------------------
case("6.1.1 empty text frame", [F(OP_TEXT), Echo(OP_TEXT, b"")])
case("6.1.2 three empty fragments", [F(OP_TEXT, fin=False) + F(OP_CONT, fin=False) + F(OP_CONT),
                                     Echo(OP_TEXT, b"")])
case("6.1.3 empty, non-empty, empty fragments",
     [F(OP_TEXT, fin=False) + F(OP_CONT, b"middle", fin=False) + F(OP_CONT),
      Echo(OP_TEXT, b"middle")])

# Markus Kuhn's UTF-8 decoder stress test (sections 1-5), as (label, bytes).
VALID = [
    ("kosme", "κόσμε".encode()),
    ("Hello-µ@ßöäüàá-UTF-8!!", "Hello-µ@ßöäüàá-UTF-8!!".encode()),
    ("2.1.1 U+0000", b"\x00"), ("2.1.2 U+0080", b"\xc2\x80"),
    ("2.1.3 U+0800", b"\xe0\xa0\x80"), ("2.1.4 U+10000", b"\xf0\x90\x80\x80"),
    ("2.2.1 U+007F", b"\x7f"), ("2.2.2 U+07FF", b"\xdf\xbf"),
    ("2.2.3 U+FFFF", b"\xef\xbf\xbf"), ("2.2.4 U+10FFFF", b"\xf4\x8f\xbf\xbf"),
    ("2.3.1 U+D7FF", b"\xed\x9f\xbf"), ("2.3.2 U+E000", b"\xee\x80\x80"),
    ("2.3.3 U+FFFD", b"\xef\xbf\xbd"), ("2.3.4 U+10FFFF", b"\xf4\x8f\xbf\xbf"),
    ("5.3.1 U+FFFE noncharacter", b"\xef\xbf\xbe"), ("5.3.2 U+FDD0", b"\xef\xb7\x90"),
    ("5.3.3 U+1FFFE", b"\xf0\x9f\xbf\xbe"), ("5.3.4 U+10FFFE", b"\xf4\x8f\xbf\xbe"),
    ("mixed scripts", "Ελληνικά русский עברית 日本語 한국어 🎉".encode()),
]
INVALID = [
    ("kosme with 0xED 0xA0 0x80 inside", "κόσμε".encode() + b"\xed\xa0\x80edited"),
    ("2.1.5 first 5-byte sequence", b"\xf8\x88\x80\x80\x80"),
    ("2.1.6 first 6-byte sequence", b"\xfc\x84\x80\x80\x80\x80"),
    ("2.2.4 U+1FFFFF", b"\xf7\xbf\xbf\xbf"),
    ("2.2.5 last 5-byte", b"\xfb\xbf\xbf\xbf\xbf"),
    ("2.2.6 last 6-byte", b"\xfd\xbf\xbf\xbf\xbf\xbf"),
    ("2.3.5 U+110000", b"\xf4\x90\x80\x80"),
    ("3.1.1 lone 0x80", b"\x80"), ("3.1.2 lone 0xBF", b"\xbf"),
    ("3.1.3 2 continuation bytes", b"\x80\xbf"), ("3.1.4 3", b"\x80\xbf\x80"),
    ("3.1.5 4", b"\x80\xbf\x80\xbf"), ("3.1.6 5", b"\x80\xbf\x80\xbf\x80"),
    ("3.1.7 6", b"\x80\xbf\x80\xbf\x80\xbf"), ("3.1.8 7", b"\x80\xbf\x80\xbf\x80\xbf\x80"),
    ("3.1.9 all 64 continuation bytes", bytes(range(0x80, 0xC0))),
    ("3.2.1 lonely 2-byte starts", b"".join(bytes([b, 0x20]) for b in range(0xC0, 0xE0))),
    ("3.2.2 lonely 3-byte starts", b"".join(bytes([b, 0x20]) for b in range(0xE0, 0xF0))),
    ("3.2.3 lonely 4-byte starts", b"".join(bytes([b, 0x20]) for b in range(0xF0, 0xF8))),
    ("3.2.4 lonely 5-byte starts", b"".join(bytes([b, 0x20]) for b in range(0xF8, 0xFC))),
    ("3.2.5 lonely 6-byte starts", b"\xfc\x20\xfd\x20"),
    ("3.3.1 2-byte missing last (U+0000)", b"\xc0"),
    ("3.3.2 3-byte missing last", b"\xe0\x80"),
    ("3.3.3 4-byte missing last", b"\xf0\x80\x80"),
    ("3.3.4 5-byte missing last", b"\xf8\x80\x80\x80"),
    ("3.3.5 6-byte missing last", b"\xfc\x80\x80\x80\x80"),
    ("3.3.6 2-byte missing last (U+07FF)", b"\xdf"),
    ("3.3.7 3-byte missing last (U+FFFF)", b"\xef\xbf"),
    ("3.3.8 4-byte missing last (U+1FFFFF)", b"\xf7\xbf\xbf"),
    ("3.3.9 5-byte missing last", b"\xfb\xbf\xbf\xbf"),
    ("3.3.10 6-byte missing last", b"\xfd\xbf\xbf\xbf\xbf"),
    ("3.4 concatenated incomplete", b"\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80"
                                    b"\x80\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf"),
    ("3.5.1 0xFE", b"\xfe"), ("3.5.2 0xFF", b"\xff"), ("3.5.3 FE FE FF FF", b"\xfe\xfe\xff\xff"),
    ("4.1.1 overlong /", b"\xc0\xaf"), ("4.1.2", b"\xe0\x80\xaf"), ("4.1.3", b"\xf0\x80\x80\xaf"),
    ("4.1.4", b"\xf8\x80\x80\x80\xaf"), ("4.1.5", b"\xfc\x80\x80\x80\x80\xaf"),
    ("4.2.1 max overlong 2", b"\xc1\xbf"), ("4.2.2 max overlong 3", b"\xe0\x9f\xbf"),
    ("4.2.3 max overlong 4", b"\xf0\x8f\xbf\xbf"), ("4.2.4", b"\xf8\x87\xbf\xbf\xbf"),
    ("4.2.5", b"\xfc\x83\xbf\xbf\xbf\xbf"),
    ("4.3.1 overlong NUL 2", b"\xc0\x80"), ("4.3.2 overlong NUL 3", b"\xe0\x80\x80"),
    ("4.3.3 overlong NUL 4", b"\xf0\x80\x80\x80"), ("4.3.4", b"\xf8\x80\x80\x80\x80"),
    ("4.3.5", b"\xfc\x80\x80\x80\x80\x80"),
    ("5.1.1 U+D800", b"\xed\xa0\x80"), ("5.1.2 U+DB7F", b"\xed\xad\xbf"),
    ("5.1.3 U+DB80", b"\xed\xae\x80"), ("5.1.4 U+DBFF", b"\xed\xaf\xbf"),
    ("5.1.5 U+DC00", b"\xed\xb0\x80"), ("5.1.6 U+DF80", b"\xed\xbe\x80"),
    ("5.1.7 U+DFFF", b"\xed\xbf\xbf"),
    ("5.2.1 U+D800 U+DC00", b"\xed\xa0\x80\xed\xb0\x80"),
    ("5.2.8 U+DBFF U+DFFF", b"\xed\xaf\xbf\xed\xbf\xbf"),
    ("F5 start byte", b"\xf5\x80\x80\x80"),
]
for label, data in VALID:
    check(data.decode("utf-8") is not None, label)
for label, data in INVALID:
    try:
        data.decode("utf-8")
        raise SystemExit(f"test table error: {label} is valid UTF-8")
    except UnicodeDecodeError:
        pass


def per_byte(data):
    if not data:
        return F(OP_TEXT)
    return b"".join(F(OP_TEXT if i == 0 else OP_CONT, data[i:i + 1], fin=(i == len(data) - 1))
                    for i in range(len(data)))


def per_code_point(data):
    chars = [ch.encode() for ch in data.decode()]
    return b"".join(F(OP_TEXT if i == 0 else OP_CONT, ch, fin=(i == len(chars) - 1))
                    for i, ch in enumerate(chars))


for label, data in VALID:
    case(f"6.x valid {label}: one frame", [F(OP_TEXT, data), Echo(OP_TEXT, data)])
    case(f"6.x valid {label}: per byte", [per_byte(data), Echo(OP_TEXT, data)])
    case(f"6.x valid {label}: per code point", [per_code_point(data), Echo(OP_TEXT, data)])
for label, data in INVALID:
    case(f"6.x invalid {label}: one frame -> 1007", [F(OP_TEXT, data)], fail=1007)
    case(f"6.x invalid {label}: per byte -> 1007", [per_byte(data)], fail=1007)
# The same sequences at positions that straddle 16/32/64-byte SIMD blocks.
for pos in (15, 31, 62, 63, 127):
    for label, data in (("U+10FFFF", b"\xf4\x8f\xbf\xbf"), ("U+FFFE", b"\xef\xbf\xbe")):
        msg = text_of(pos) + data + text_of(70)
        case(f"6.x valid {label} at offset {pos}", [F(OP_TEXT, msg), Echo(OP_TEXT, msg)])
    for label, data in (("surrogate", b"\xed\xa0\x80"), ("overlong", b"\xe0\x80\xaf"),
                        ("U+110000", b"\xf4\x90\x80\x80"), ("truncated 4-byte", b"\xf0\x9f\x98")):
        msg = text_of(pos) + data + (text_of(70) if label != "truncated 4-byte" else b"")
        case(f"6.x invalid {label} at offset {pos} -> 1007", [F(OP_TEXT, msg)], fail=1007)

# 6.4 fail fast: the invalid byte arrives and nothing completes the frame or message.
case("6.4.1 valid fragment, invalid fragment FIN=0, nothing more -> 1007",
     [F(OP_TEXT, "κόσμε".encode(), fin=False), F(OP_CONT, b"\xf4\x90\x80\x80", fin=False)],
     fail=1007)
case("6.4.2 invalid byte inside a frame whose rest never arrives -> 1007",
     [F(OP_TEXT, "κόσμε".encode() + b"\xf4\x90\x80\x80" + b"x" * 100)[:-90]], fail=1007)
case("6.4.3 valid prefix, then invalid byte in 1-byte pieces -> 1007",
     [Send(F(OP_TEXT, b"abc\xed\xa0\x80" + b"x" * 50, fin=False)[:12], piece=1)], fail=1007)
case("6.4.4 truncated sequence at end of message -> 1007",
     [F(OP_TEXT, "κόσμε".encode()[:-1])], fail=1007)

# --- 7 close handling ----------------------------------------------------------------
case("7.1.1 echo, then clean close", [F(OP_TEXT, b"Hello"), Echo(OP_TEXT, "Hello")])


def close_then(extra, code=1000, send_payload=None):
    def body():
        with Conn() as c:
            c.handshake()
            c.send(F(OP_CLOSE, close_payload(code) if send_payload is None else send_payload)
                   + extra)
            c.expect_close(code if send_payload != b"" else None, reply=False, strict=True)

    return body


suite.run("7.1.2 two closes: second ignored", close_then(F(OP_CLOSE, close_payload(1000))))
suite.run("7.1.3 close then ping: no pong", close_then(F(OP_PING, b"ping")))
suite.run("7.1.4 close then text: no echo", close_then(F(OP_TEXT, b"after close")))
suite.run("7.1.5 fragment, close, rest: no echo",
          close_then(F(OP_CONT, b"rest")))
def big_then_close():
    with Conn() as c:
        c.handshake()
        big = blob(256 * 1024)
        sender = c.send_in_background(F(OP_BINARY, big) + F(OP_PING, b"p") +
                                      F(OP_CLOSE, close_payload(1000)))
        # The pong may overtake the echo (control frames can be sent between
        # the frames of a message, §5.4); both must come before the close.
        data, pongs = [], []
        while True:
            f = c.read_frame()
            if f.opcode == OP_PONG:
                pongs.append(f.payload)
            elif f.opcode == OP_CLOSE:
                break
            else:
                check(f.opcode == (OP_BINARY if not data else OP_CONT), f"unexpected {f!r}")
                data.append(f.payload)
                check(not f.fin or b"".join(data) == big, "echo payload differs")
        eq(b"".join(data), big, "echo before close")
        eq(pongs, [b"p"], "pongs before close")
        eq(f.close_code(), 1000, "close code")
        c.expect_eof(wsraw.CLOSE_TIMEOUT + 2)


suite.run("7.1.6 big message, ping, close: echo, pong, close", big_then_close)
suite.run("7.3.1 empty close -> empty close", close_then(b"", send_payload=b""))
case("7.3.2 close with 1-byte payload -> 1002", [F(OP_CLOSE, b"\x03")], fail=1002)
suite.run("7.3.3 close 1000 without reason", close_then(b""))
suite.run("7.3.4 close 1000 with reason",
          close_then(b"", send_payload=close_payload(1000, "Hello World!")))
suite.run("7.3.5 close 1000 with 123-byte reason (125 bytes)",
          close_then(b"", send_payload=close_payload(1000, "*" * 123)))
case("7.3.6 close with 124-byte reason (126 bytes) -> 1002",
     [F(OP_CLOSE, close_payload(1000, "*" * 124))], fail=1002)
case("7.5.1 close reason with invalid UTF-8 -> 1007",
     [F(OP_CLOSE, close_payload(1000, "κόσμε".encode() + b"\xed\xa0\x80edited"))], fail=1007)
suite.run("7.5.2 close reason with multi-byte UTF-8",
          close_then(b"", send_payload=close_payload(1000, "héllo ☃ 𝄞")))
for i, code in enumerate((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000,
                          4999), 1):
    suite.run(f"7.7.{i} valid close code {code} echoed", close_then(b"", code=code))
for i, code in enumerate((0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000,
                          2999), 1):
    case(f"7.9.{i} invalid close code {code} -> 1002", [F(OP_CLOSE, close_payload(code))],
         fail=1002)
case("7.13.1 close code 5000 -> 1002", [F(OP_CLOSE, close_payload(5000))], fail=1002)
case("7.13.2 close code 65535 -> 1002", [F(OP_CLOSE, close_payload(65535))], fail=1002)

# --- 9 limits (default --max-message-bytes 16 MiB) -----------------------------------
KIB, MIB = 1024, 1024 * 1024
BIG = (64 * KIB, 256 * KIB, MIB, 4 * MIB, 8 * MIB, 16 * MIB)


def big_text(n):
    unit = "abcdefgh€𝄞".encode()  # 8 + 3 + 4 = 15 bytes
    return (unit * (n // 15 + 1))[:n - n % 15] + b"x" * (n % 15)


def big_binary(n):
    return (os.urandom(64 * KIB) * (n // (64 * KIB) + 1))[:n]


def one_frame(op, data, piece=None):
    def body():
        with Conn(timeout=20) as c:
            c.handshake()
            sender = c.send_in_background(F(op, data), piece)
            got_op, got = c.read_message()
            sender.join(5)
            check(c.send_error is None, f"send failed: {c.send_error}")
            eq(got_op, op, "opcode")
            eq(got, data, "payload")
            c.send(F(OP_CLOSE, close_payload(1000)))
            c.expect_close(1000, reply=False, strict=True)

    return body


def fragmented(op, data, size):
    def body():
        with Conn(timeout=20) as c:
            c.handshake()
            parts = [data[i:i + size] for i in range(0, len(data), size)]
            sender = c.send_in_background(b"".join(
                F(op if i == 0 else OP_CONT, p, fin=(i == len(parts) - 1))
                for i, p in enumerate(parts)))
            got_op, got = c.read_message()
            sender.join(5)
            check(c.send_error is None, f"send failed: {c.send_error}")
            eq((got_op, got), (op, data), "reassembled echo")
            c.send(F(OP_CLOSE, close_payload(1000)))
            c.expect_close(1000, reply=False, strict=True)

    return body


for i, n in enumerate(BIG, 1):
    suite.run(f"9.1.{i} text {n // KIB} KiB in one frame", one_frame(OP_TEXT, big_text(n)))
for i, n in enumerate(BIG, 1):
    suite.run(f"9.2.{i} binary {n // KIB} KiB in one frame", one_frame(OP_BINARY, big_binary(n)))
FRAG_SIZES = [64, 256, KIB, 4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB, 4 * MIB]
T4, B4 = big_text(4 * MIB), big_binary(4 * MIB)
for i, size in enumerate(FRAG_SIZES, 1):
    suite.run(f"9.3.{i} text 4 MiB in {size}-byte fragments", fragmented(OP_TEXT, T4, size))
for i, size in enumerate(FRAG_SIZES, 1):
    suite.run(f"9.4.{i} binary 4 MiB in {size}-byte fragments", fragmented(OP_BINARY, B4, size))
T1, B1 = big_text(MIB), big_binary(MIB)
for i, piece in enumerate((64, 128, 256, 512, 1024, 2048), 1):
    suite.run(f"9.5.{i} text 1 MiB written in {piece}-byte chunks",
              one_frame(OP_TEXT, T1, piece=piece))
    suite.run(f"9.6.{i} binary 1 MiB written in {piece}-byte chunks",
              one_frame(OP_BINARY, B1, piece=piece))


def many(op, size, count=1000):
    def body():
        with Conn(timeout=20) as c:
            c.handshake()
            msg = big_text(size) if op == OP_TEXT else big_binary(size)
            sender = c.send_in_background(b"".join(F(op, msg) for _ in range(count)))
            for k in range(count):
                got = c.read_message()
                if got != (op, msg):
                    raise wsraw.Failure(f"message {k} of {count} differs")
            sender.join(5)
            c.send(F(OP_CLOSE, close_payload(1000)))
            c.expect_close(1000, reply=False, strict=True)

    return body


for i, size in enumerate((0, 16, 64, 256, KIB, 4 * KIB), 1):
    suite.run(f"9.7.{i} 1000 text messages of {size} bytes", many(OP_TEXT, size))
    suite.run(f"9.8.{i} 1000 binary messages of {size} bytes", many(OP_BINARY, size))

# --- 10 auto-fragmentation --------------------------------------------------------------
suite.run("10.1.1 text 64 KiB in 1300-byte fragments", fragmented(OP_TEXT, big_text(64 * KIB), 1300))

suite.finish()
