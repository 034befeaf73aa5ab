// Tunables shared by the backends (filled from the gateway's Config).
#pragma once

#include <cstdint>

namespace wsgate::io {

struct BackendOptions {
    // io_uring SQ size (CQ is 4x): a publication to 10,000 subscribers is 10,000
    // sends; with 1,024 entries they took ~4 forced submits each, with 8,192
    // (512 KiB of SQEs per loop) about one enter. Measured: bench/README.md.
    unsigned ring_entries = 8192;
    uint32_t recv_buffer_count = 1024;  // provided buffers per loop (power of two)
    uint32_t recv_buffer_size = 16384;  // bytes each; also the epoll scratch buffer size
    // io_uring: accept straight into a sparse registered file table (kernel
    // 5.19) so connections use no process descriptors; each ring then holds
    // up to `fixed_files` connections (at most RLIMIT_NOFILE, a kernel rule).
    bool direct_descriptors = false;
    uint32_t fixed_files = 0;  // 0: the RLIMIT_NOFILE soft limit
    // With direct_descriptors: the upper half of each table is kept for
    // outbound sockets (a proxy's upstreams), which move into it once
    // connected; accepts take the lower half (IORING_REGISTER_FILE_ALLOC_RANGE).
    bool outbound_direct = false;
};

// How a backend stops accepting: at shutdown its listeners close at once;
// at a live upgrade's handover another process accepts on the same sockets,
// and this one first takes the connections already queued for it.
enum class AcceptStop { close, take_queued };

// Gather at most this many iovecs into one sendmsg/writev.
inline constexpr size_t kMaxSendIov = 16;

}  // namespace wsgate::io
