#include "io/buffer_ring.hpp"

#include <sys/mman.h>

#include <cerrno>

#include "io/setup_buf_ring.hpp"

namespace wsgate::io {

namespace {
constexpr uint32_t kMaxRingEntries = 32768;  // io_uring limit for a buffer ring
}

int BufferRing::init(io_uring& ring, uint16_t group_id, uint32_t count, uint32_t size) {
    if (count == 0 || count > kMaxRingEntries || (count & (count - 1)) != 0 || size == 0) {
        return -EINVAL;
    }
    size_t bytes = size_t{count} * size;
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return -errno;
    int err = 0;
    io_uring_buf_ring* br = setup_buf_ring(ring, count, group_id, &err);
    if (br == nullptr) {
        munmap(mem, bytes);
        return err;
    }
    uring_ = &ring;
    ring_ = br;
    base_ = static_cast<uint8_t*>(mem);
    count_ = count;
    size_ = size;
    mask_ = io_uring_buf_ring_mask(count);
    group_id_ = group_id;
    refs_.assign(count, 0);
    held_ = 0;
    for (uint32_t i = 0; i < count; ++i)
        recycle(static_cast<uint16_t>(i));
    publish();
    return 0;
}

BufferRing::~BufferRing() {
    if (ring_ == nullptr) return;
    free_buf_ring(*uring_, ring_, count_, group_id_);
    munmap(base_, size_t{count_} * size_);
}

}  // namespace wsgate::io
