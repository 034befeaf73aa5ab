// IORING_OP_MSG_RING (kernel 5.18): one io_uring posts a completion into
// another, which is how one io_uring loop wakes another without an eventfd
// write and read. Probed at start-up, never assumed.
#pragma once

#include <liburing.h>

#include <cstdint>

namespace wsgate::io {

// True when the kernel of `ring` supports IORING_OP_MSG_RING.
bool msg_ring_supported(io_uring& ring);

// Prepares `sqe` (of the sender's ring) to post a completion with
// `target_user_data` and res 0 into the ring whose descriptor is
// target_ring_fd; the sender's own completion carries `own_user_data`
// (res < 0: not delivered, e.g. the target is gone or refuses, so the
// sender falls back to the eventfd).
inline void prep_ring_wake(io_uring_sqe* sqe, int target_ring_fd, uint64_t target_user_data,
                           uint64_t own_user_data) {
    io_uring_prep_msg_ring(sqe, target_ring_fd, 0, target_user_data, 0);
    io_uring_sqe_set_data64(sqe, own_user_data);
}

}  // namespace wsgate::io
