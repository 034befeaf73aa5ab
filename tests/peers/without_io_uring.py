#!/usr/bin/python3
"""Runs a program on a host where io_uring is switched off, the way a
container runtime's seccomp profile (or kernel.io_uring_disabled) does it:
io_uring_setup fails with EPERM, every other system call is allowed.

  without_io_uring.py PROGRAM [ARGS...]

Installs a seccomp filter on itself (PR_SET_NO_NEW_PRIVS, so no privilege is
needed), then execs PROGRAM, which inherits the filter. x86-64 only, like
wsgate.
"""

import ctypes
import os
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
AUDIT_ARCH_X86_64 = 0xC000003E
NR_IO_URING_SETUP = 425  # x86-64
EPERM = 1

# Classic BPF over struct seccomp_data {int nr; u32 arch; ...}.
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_RET_K = 0x06
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_KILL_PROCESS = 0x80000000

PROGRAM = [
    (BPF_LD_W_ABS, 0, 0, 4),                       # A = arch
    (BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),          # other ABIs: refuse to run at all
    (BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
    (BPF_LD_W_ABS, 0, 0, 0),                       # A = nr
    (BPF_JEQ_K, 0, 1, NR_IO_URING_SETUP),
    (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
    (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
]


def install():
    code = b"".join(struct.pack("=HBBI", *insn) for insn in PROGRAM)
    buf = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(len(PROGRAM), ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                           ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: without_io_uring.py PROGRAM [ARGS...]", file=sys.stderr)
        sys.exit(2)
    install()
    os.execv(sys.argv[1], sys.argv[1:])
