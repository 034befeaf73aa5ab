#include "io/ring_setup.hpp"

#include <cerrno>
#include <cstring>

#include "io/setup_buf_ring.hpp"

namespace wsgate::io {

namespace {
constexpr unsigned kCqFactor = 4;  // multishot receives complete many times per submission
constexpr unsigned kProbeEntries = 8;
constexpr uint32_t kProbeBuffers = 8;
}  // namespace

int create_ring(io_uring& ring, unsigned entries, unsigned* flags_used) {
    static constexpr unsigned kFlagSets[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int rc = -EINVAL;
    for (unsigned flags : kFlagSets) {
        io_uring_params p;
        std::memset(&p, 0, sizeof(p));
        p.flags = flags | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
        p.cq_entries = entries * kCqFactor;
        rc = io_uring_queue_init_params(entries, &ring, &p);
        if (rc == 0) {
            *flags_used = flags;
            return 0;
        }
        if (rc != -EINVAL) return rc;
    }
    return rc;
}

bool probe_io_uring(int* err) {
    io_uring ring;
    unsigned flags = 0;
    int rc = create_ring(ring, kProbeEntries, &flags);
    if (rc != 0) {
        *err = rc;
        return false;
    }
    io_uring_buf_ring* br = setup_buf_ring(ring, kProbeBuffers, 0, &rc);
    if (br != nullptr) free_buf_ring(ring, br, kProbeBuffers, 0);
    io_uring_queue_exit(&ring);
    *err = rc;
    return rc == 0;
}

}  // namespace wsgate::io
