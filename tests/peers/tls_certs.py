"""A test PKI made at test time with the `openssl` CLI: a root CA, an
intermediate CA, and leaf certificates signed by the intermediate (served
with their chain: leaf then intermediate), so a client that trusts only the
root verifies the whole chain.
"""

import base64
import hashlib
import os
import subprocess
import tempfile


def _run(*args, stdin=None):
    subprocess.run(["openssl", *args], check=True, capture_output=True, input=stdin)


def _key(path, kind):
    if kind == "rsa":
        _run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
    else:
        _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)


class TestPki:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wsgate-tls.")
        d = self.dir
        self.ca = os.path.join(d, "ca.pem")
        _key(os.path.join(d, "ca.key"), "ec")
        _run("req", "-x509", "-new", "-key", os.path.join(d, "ca.key"), "-out", self.ca,
             "-days", "2", "-subj", "/CN=wsgate test root CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        _key(os.path.join(d, "int.key"), "ec")
        _run("req", "-new", "-key", os.path.join(d, "int.key"), "-out",
             os.path.join(d, "int.csr"), "-subj", "/CN=wsgate test intermediate CA")
        self._sign(os.path.join(d, "int.csr"), os.path.join(d, "int.pem"), self.ca,
                   os.path.join(d, "ca.key"),
                   "basicConstraints=critical,CA:TRUE,pathlen:0\n"
                   "keyUsage=critical,keyCertSign,cRLSign\n")
        self.intermediate = os.path.join(d, "int.pem")

    def _sign(self, csr, out, ca, ca_key, ext):
        ext_path = out + ".ext"
        with open(ext_path, "w") as f:
            f.write(ext)
        _run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-out", out, "-days", "2", "-extfile", ext_path)

    def leaf(self, name, sans, kind="ec"):
        """(chain file, key file) for a server certificate with these
        subjectAltNames (e.g. ["DNS:localhost", "IP:127.0.0.1"])."""
        d = self.dir
        key = os.path.join(d, f"{name}.key")
        _key(key, kind)
        csr = os.path.join(d, f"{name}.csr")
        _run("req", "-new", "-key", key, "-out", csr, "-subj", f"/CN={name}")
        cert = os.path.join(d, f"{name}.crt")
        self._sign(csr, cert, self.intermediate, os.path.join(d, "int.key"),
                   "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,"
                   "keyEncipherment\nextendedKeyUsage=serverAuth\n"
                   f"subjectAltName={','.join(sans)}\n")
        chain = os.path.join(d, f"{name}.chain.pem")
        with open(chain, "w") as out:
            for part in (cert, self.intermediate):
                with open(part) as f:
                    out.write(f.read())
        return chain, key

    def spki_sha256_base64(self, cert):
        """The SHA-256 of the certificate's SubjectPublicKeyInfo, base64 (what
        Chromium's --ignore-certificate-errors-spki-list takes)."""
        pub = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"], check=True,
                             capture_output=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                             check=True, capture_output=True).stdout
        return base64.b64encode(hashlib.sha256(der).digest()).decode()

    def remove(self):
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)
