#!/usr/bin/python3
"""Connection tokens signed with public keys (--mode pubsub): RS256 and
ES256 beside HS256, keys from PEM files or a JWK Set chosen by kid, read
again on SIGHUP.

  test_token_keys.py WSGATE_BINARY BACKEND [CASE-FILTER...]

Keys and tokens are made here with python3-cryptography and PyJWT
(Debian's python3-cryptography, python3-jwt), fresh for every run.
"""

import base64
import json
import os
import signal
import sys
import tempfile
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import wsraw
from pubsub_client import PubsubConn, open_connected, start, wait_until
from wsraw import check, eq

if len(sys.argv) < 3:
    print("usage: test_token_keys.py WSGATE_BINARY BACKEND", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(2)
BIN, BACKEND = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
suite = wsraw.Suite("token_keys")
work = tempfile.mkdtemp(prefix="wsgate-token-keys.")


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def write_pem(name, key):
    path = os.path.join(work, name)
    with open(path, "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def b64int(n, size=None):
    raw = n.to_bytes(size or (n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwk(kid, key, use="sig"):
    pub = key.public_key().public_numbers()
    if isinstance(key, rsa.RSAPrivateKey):
        out = {"kty": "RSA", "kid": kid, "n": b64int(pub.n), "e": b64int(pub.e)}
    else:
        out = {"kty": "EC", "kid": kid, "crv": "P-256", "x": b64int(pub.x, 32),
               "y": b64int(pub.y, 32)}
    if use:
        out["use"] = use
    return out


def write_jwks(path, keys):
    with open(path + ".tmp", "w") as f:
        json.dump({"keys": keys}, f)
    os.replace(path + ".tmp", path)


def token(key, alg, sub, kid=None, exp_in=600):
    headers = {"kid": kid} if kid else None
    return jwt.encode({"sub": sub, "exp": int(time.time()) + exp_in}, key, algorithm=alg,
                      headers=headers)


def connects_as(port, tok, user):
    c = open_connected(port, tok)
    try:
        eq(c.connect_result.get("client") is not None, True, "connect result has a client id")
        c.subscribe("news")
    finally:
        c.close()


def refused(port, tok, code=3500):
    c = PubsubConn(port)
    try:
        c.send_cmds({"connect": {"token": tok}})
        c.expect_disconnect(code)
    finally:
        c.close()


def pem_keys():
    rk, ek, other = rsa_key(), ec_key(), rsa_key()
    srv, port = start(BIN, BACKEND, ["--allow-anonymous", "off", "--token-rsa-public-key",
                                     write_pem("rsa.pem", rk), "--token-ecdsa-public-key",
                                     write_pem("ec.pem", ek)])
    with srv:
        check("token keys: 2 public keys" in srv.log(), "start-up line with the key count")
        connects_as(port, token(rk, "RS256", "alice"), "alice")
        connects_as(port, token(ek, "ES256", "bob"), "bob")
        refused(port, token(other, "RS256", "mallory"))  # another key
        refused(port, token(ek, "ES256", "x")[:-4] + "AAAA")  # signature altered
        # Algorithm confusion: the RSA public key used as an HMAC secret.
        pem = open(os.path.join(work, "rsa.pem"), "rb").read()
        import hmac, hashlib  # noqa: E401
        head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
        body = base64.urlsafe_b64encode(b'{"sub":"eve"}').rstrip(b"=")
        sig = base64.urlsafe_b64encode(hmac.new(pem, head + b"." + body,
                                                hashlib.sha256).digest()).rstrip(b"=")
        refused(port, (head + b"." + body + b"." + sig).decode())
        refused(port, token(rk, "RS512", "x"))  # an algorithm not accepted
        c = PubsubConn(port)
        try:
            c.error("connect", {"token": token(rk, "RS256", "late", exp_in=-10)}, 109)
        finally:
            c.close()


def jwks_reload():
    r1, e1, r2 = rsa_key(), ec_key(), rsa_key()
    path = os.path.join(work, "keys.json")
    write_jwks(path, [jwk("rsa1", r1), jwk("ec1", e1), jwk("enc1", rsa_key(), use="enc"),
                      {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"}])
    srv, port = start(BIN, BACKEND, ["--allow-anonymous", "off", "--token-jwks-file", path])
    with srv:
        check("token keys: 2 public keys" in srv.log(), "enc and oct keys skipped")
        connects_as(port, token(r1, "RS256", "a", kid="rsa1"), "a")
        connects_as(port, token(e1, "ES256", "b", kid="ec1"), "b")
        refused(port, token(r1, "RS256", "c", kid="nope"))  # unknown kid
        refused(port, token(r1, "RS256", "c", kid="ec1"))  # kid of another type
        # A client connected before the rotation keeps its connection.
        kept = open_connected(port, token(r1, "RS256", "kept", kid="rsa1"))
        try:
            write_jwks(path, [jwk("rsa2", r2)])
            os.kill(srv.pid, signal.SIGHUP)
            wait_until(lambda: "applied token keys: 1 public key" in srv.log(), 5,
                       "the reload line")
            refused(port, token(r1, "RS256", "a", kid="rsa1"))
            connects_as(port, token(r2, "RS256", "d", kid="rsa2"), "d")
            # A bad file changes nothing.
            with open(path, "w") as f:
                f.write('{"keys": [{"kty": "RSA", "kid": "x", "n": "!!", "e": "AQAB"}]}')
            os.kill(srv.pid, signal.SIGHUP)
            wait_until(lambda: "reload failed, nothing changed: token keys: " in srv.log(), 5,
                       "the refused reload line")
            connects_as(port, token(r2, "RS256", "e", kid="rsa2"), "e")
            kept.subscribe("after-reload")
        finally:
            kept.close()
        check(srv.proc.poll() is None, "server alive after the reloads")


def bad_key_file_at_start():
    path = os.path.join(work, "short.pem")
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    write_pem("short.pem", short)
    from wsgate_proc import run_flags
    rc, _, out = run_flags(BIN, ["--mode", "pubsub", "--listen", "127.0.0.1:0",
                              "--token-rsa-public-key", path])
    check(rc != 0, f"started with a 1024-bit key (exit {rc})")
    check("shorter than 2048 bits" in out, f"says why: {out!r}")


suite.run("RS256 and ES256 from PEM files; other key, altered signature, HS256 with the public "
          "key (algorithm confusion), RS512: 3500; expired: 109", pem_keys)
suite.run("JWK Set by kid (enc/oct keys skipped, unknown kid 3500); SIGHUP rotates the keys, a "
          "bad file keeps them, connected clients stay", jwks_reload)
suite.run("a 1024-bit RSA key is refused at start", bad_key_file_at_start)
suite.finish()
