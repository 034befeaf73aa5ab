// The receive buffers of one loop: `count` buffers of `size` bytes handed to
// the kernel through a provided-buffer ring, so a multishot receive picks a
// buffer only when data arrives and an idle connection holds none.
// Buffers come back in batches: recycle() queues one, publish() makes all
// queued ones visible to the kernel with a single tail advance (once per
// loop turn).
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wsgate::io {

class BufferRing {
  public:
    BufferRing() = default;
    ~BufferRing();
    BufferRing(const BufferRing&) = delete;
    BufferRing& operator=(const BufferRing&) = delete;

    // Maps the buffers and registers them as group `group_id` on `ring`, all
    // available to the kernel. count: power of two <= 32768. Returns 0 or -errno.
    int init(io_uring& ring, uint16_t group_id, uint32_t count, uint32_t size);

    uint8_t* buffer(uint16_t id) { return base_ + size_t{id} * size_; }
    uint32_t buffer_size() const { return size_; }
    uint16_t group_id() const { return group_id_; }
    uint32_t count() const { return count_; }

    // Queues buffer `id` for return to the kernel (not visible until publish()).
    void recycle(uint16_t id) {
        io_uring_buf_ring_add(ring_, buffer(id), size_, id, mask_, pending_);
        ++pending_;
    }
    // Reference counting for buffers lent out after delivery (zero-copy
    // sends): delivered() when the kernel hands buffer `id` over (one
    // reference: the delivery), hold() for each extra user, release() for
    // each; the last release recycles it.
    void delivered(uint16_t id) {
        held_ += refs_[id] == 0;
        refs_[id] = 1;
    }
    void hold(uint16_t id) { ++refs_[id]; }
    void release(uint16_t id) {
        if (--refs_[id] == 0) {
            --held_;
            recycle(id);
        }
    }
    // Buffers out of the ring with a reference (kept as a count: the
    // metrics read it every loop turn).
    uint32_t held() const { return held_; }

    // Makes every recycled buffer available to the kernel; returns how many.
    int publish() {
        int n = pending_;
        if (n != 0) io_uring_buf_ring_advance(ring_, n);
        pending_ = 0;
        return n;
    }

  private:
    io_uring* uring_ = nullptr;
    io_uring_buf_ring* ring_ = nullptr;
    uint8_t* base_ = nullptr;
    uint32_t count_ = 0;
    uint32_t size_ = 0;
    int mask_ = 0;
    int pending_ = 0;
    uint32_t held_ = 0;  // buffers with refs_ != 0
    uint16_t group_id_ = 0;
    std::vector<uint16_t> refs_;  // per buffer: references while out of the ring
};

}  // namespace wsgate::io
