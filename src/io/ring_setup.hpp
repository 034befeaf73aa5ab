// io_uring creation with the fastest flags the kernel accepts, falling back
// flag by flag when one is refused with EINVAL (older kernels).
#pragma once

#include <liburing.h>

namespace wsgate::io {

// Initialises `ring` with `entries` SQ entries and a CQ four times larger.
// Tries SINGLE_ISSUER|DEFER_TASKRUN (6.1), then SINGLE_ISSUER|COOP_TASKRUN
// (6.0), COOP_TASKRUN (5.19), then none. The ring must be used only by the
// calling thread afterwards. Returns 0 or -errno; *flags_used gets the flags.
int create_ring(io_uring& ring, unsigned entries, unsigned* flags_used);

// True when this process can create a small io_uring ring and register a
// provided-buffer ring (the features the io_uring backend needs). On false,
// *err is -errno (EPERM when io_uring is disabled by sysctl/seccomp, ENOSYS
// when the kernel lacks it, EINVAL when buffer rings are missing).
bool probe_io_uring(int* err);

}  // namespace wsgate::io
