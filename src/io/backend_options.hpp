// Tunables shared by the backends (filled from the gateway's Config).
#pragma once

#include <cstdint>

namespace wsgate::io {

struct BackendOptions {
    unsigned ring_entries = 1024;       // io_uring SQ size (CQ is 4x)
    uint32_t recv_buffer_count = 1024;  // provided buffers per loop (power of two)
    uint32_t recv_buffer_size = 16384;  // bytes each; also the epoll scratch buffer size
};

// Gather at most this many iovecs into one sendmsg/writev.
inline constexpr size_t kMaxSendIov = 16;

}  // namespace wsgate::io
