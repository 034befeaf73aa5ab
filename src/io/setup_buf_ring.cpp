#include "io/setup_buf_ring.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace wsgate::io {

io_uring_buf_ring* setup_buf_ring(io_uring& ring, uint32_t entries, uint16_t group_id, int* err,
                                  uint16_t flags) {
    size_t bytes = size_t{entries} * sizeof(io_uring_buf);
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        *err = -errno;
        return nullptr;
    }
    auto* br = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(br);

    io_uring_buf_reg reg;
    std::memset(&reg, 0, sizeof(reg));
    reg.ring_addr = reinterpret_cast<uint64_t>(br);
    reg.ring_entries = entries;
    reg.bgid = group_id;
    reg.pad = flags;  // the kernel's `flags` since 6.4; liburing 2.3 still names it pad
    int rc = io_uring_register_buf_ring(&ring, &reg, 0);
    if (rc != 0) {
        munmap(mem, bytes);
        *err = rc;
        return nullptr;
    }
    *err = 0;
    return br;
}

void free_buf_ring(io_uring& ring, io_uring_buf_ring* br, uint32_t entries, uint16_t group_id) {
    if (br == nullptr) return;
    io_uring_unregister_buf_ring(&ring, group_id);
    munmap(br, size_t{entries} * sizeof(io_uring_buf));
}

}  // namespace wsgate::io
