// io_uring creation with the fastest setup flags this kernel accepts. The
// flags are settled once per process by the feature probe
// (io/uring_features.hpp), so every loop's ring uses the set that is logged
// and reported.
#pragma once

#include <liburing.h>

namespace wsgate::io {

// Flags create_ring always adds: a CQ four times the SQ (multishot receives
// complete many times per submission) and SUBMIT_ALL (5.18), so one bad SQE
// does not strand the ones behind it.
inline constexpr unsigned kAlwaysSetupFlags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;

// Initialises `ring` with `entries` SQ entries, a CQ four times larger and
// `flags` | kAlwaysSetupFlags. Returns 0 or -errno.
int create_ring_with_flags(io_uring& ring, unsigned entries, unsigned flags);

// The fastest flag set the kernel accepts, tried in order:
// SINGLE_ISSUER|DEFER_TASKRUN (6.1), SINGLE_ISSUER|COOP_TASKRUN (6.0),
// COOP_TASKRUN (5.19), none. Returns the flags, or -errno in *err (then the
// flags are meaningless) when even the last one is refused.
unsigned settle_setup_flags(int* err);

// Initialises `ring` with the process's probed flag set (uring_features()).
// The ring must be used only by the calling thread afterwards. Returns 0 or
// -errno; *flags_used gets the flags.
int create_ring(io_uring& ring, unsigned entries, unsigned* flags_used);

// True when the io_uring backend can run here: every feature it needs
// (missing_uring_requirement, without direct descriptors) is present. On
// false, *err is -errno: the ring's own error (EPERM when io_uring is
// disabled by sysctl/seccomp, ENOSYS when the kernel lacks it), else EINVAL.
bool probe_io_uring(int* err);

}  // namespace wsgate::io
