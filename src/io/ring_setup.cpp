#include "io/ring_setup.hpp"

#include <cerrno>
#include <cstring>

#include "io/uring_features.hpp"

namespace wsgate::io {

namespace {
constexpr unsigned kCqFactor = 4;
constexpr unsigned kProbeEntries = 8;
}  // namespace

int create_ring_with_flags(io_uring& ring, unsigned entries, unsigned flags) {
    io_uring_params p;
    std::memset(&p, 0, sizeof(p));
    p.flags = flags | kAlwaysSetupFlags;
    p.cq_entries = entries * kCqFactor;
    return io_uring_queue_init_params(entries, &ring, &p);
}

unsigned settle_setup_flags(int* err) {
    static constexpr unsigned kFlagSets[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int rc = -EINVAL;
    for (unsigned flags : kFlagSets) {
        io_uring ring;
        rc = create_ring_with_flags(ring, kProbeEntries, flags);
        if (rc == 0) {
            io_uring_queue_exit(&ring);
            *err = 0;
            return flags;
        }
        if (rc != -EINVAL) break;  // EPERM, ENOSYS, ENOMEM: no flag set will help
    }
    *err = rc;
    return 0;
}

int create_ring(io_uring& ring, unsigned entries, unsigned* flags_used) {
    const UringFeatures& features = uring_features();
    if (features.error != 0) return features.error;
    *flags_used = features.setup_flags;
    return create_ring_with_flags(ring, entries, features.setup_flags);
}

bool probe_io_uring(int* err) {
    const UringFeatures& features = uring_features();
    if (features.error != 0) {
        *err = features.error;
        return false;
    }
    *err = missing_uring_requirement(features, false).empty() ? 0 : -EINVAL;
    return *err == 0;
}

}  // namespace wsgate::io
