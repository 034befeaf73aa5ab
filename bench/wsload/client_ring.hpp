#pragma once
// A wsload worker's io_uring and the provided-buffer ring its multishot
// receives draw from (Linux 5.19+ buffer rings, 6.0+ multishot receive).

#include <liburing.h>

#include <cstdint>
#include <span>

namespace wsgate::bench {

class ClientRing {
  public:
    ClientRing() = default;
    ~ClientRing();
    ClientRing(const ClientRing&) = delete;
    ClientRing& operator=(const ClientRing&) = delete;

    // Creates the ring and `buffer_count` (a power of two) receive buffers of
    // `buffer_size` bytes; false with a message on stderr on failure.
    bool setup(std::uint32_t buffer_size, std::uint32_t buffer_count);

    io_uring* ring() { return &ring_; }
    // A free submission entry (submits what is queued when the queue is full).
    io_uring_sqe* sqe();
    // A multishot receive on `fd` into the buffer ring, completing with `user_data`.
    void arm_recv(int fd, std::uint64_t user_data);
    // The bytes a receive completion delivered into buffer `bid`.
    std::span<const std::uint8_t> received(std::uint16_t bid, int length) const {
        return {buffers_ + std::size_t{bid} * buffer_size_, static_cast<std::size_t>(length)};
    }
    // Gives buffer `bid` back (visible to the kernel after publish_returned()).
    void return_buffer(std::uint16_t bid);
    void publish_returned();

  private:
    io_uring ring_{};
    bool ready_ = false;
    io_uring_buf_ring* buf_ring_ = nullptr;
    std::size_t buf_ring_bytes_ = 0;
    std::uint8_t* buffers_ = nullptr;
    std::uint32_t buffer_size_ = 0, buffer_count_ = 0;
    int returned_ = 0;
};

}  // namespace wsgate::bench
