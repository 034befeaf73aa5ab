// How other threads wake a sleeping loop, at most once per batch of posts.
//
// A flag says "a wake is on its way": the first producer to set it delivers
// one wake; producers that find it set deliver none, because the wake in
// flight is still ahead of the consumer. The consumer clears the flag when
// it handles the wake, before it looks at what was posted, so anything
// posted after that clear finds the flag clear and wakes it again. Both
// sides use acq_rel exchanges on the flag: a producer that found the flag
// set has its post (made before the exchange) visible to the consumer's
// clear (made after, in the flag's modification order) and so to its drain.
//
// Delivery: an eventfd (main thread, epoll loops, and the fallback), or,
// from one io_uring loop to another, IORING_OP_MSG_RING (kernel 5.18), which
// posts a completion straight into the target ring: no descriptor, no read
// to re-arm. The target publishes its ring descriptor here for that.
#pragma once

#include <atomic>
#include <cstdint>

namespace wsgate::io {

class LoopWake {
  public:
    LoopWake() = default;
    ~LoopWake();
    LoopWake(const LoopWake&) = delete;
    LoopWake& operator=(const LoopWake&) = delete;

    // Creates the eventfd. Returns 0 or -errno.
    int open();
    int event_fd() const { return event_fd_; }

    // Producer (any thread), after posting: true when the caller must
    // deliver a wake (by signal_eventfd or a MSG_RING to ring_fd()).
    bool claim() { return !pending_.exchange(true, std::memory_order_acq_rel); }
    // Delivers a wake through the eventfd (counted).
    void signal_eventfd();
    // Counts a wake the caller delivered with a MSG_RING.
    void count_ring_wake() { ring_wakes_.fetch_add(1, std::memory_order_relaxed); }

    // Consumer, when it handles a wake and before it drains.
    void clear() { pending_.exchange(false, std::memory_order_acq_rel); }

    // The target loop's io_uring descriptor, for MSG_RING wakes (-1: none;
    // use the eventfd). Set by the consumer once its ring exists, cleared
    // before the ring goes away.
    void set_ring_fd(int fd) { ring_fd_.store(fd, std::memory_order_release); }
    int ring_fd() const { return ring_fd_.load(std::memory_order_acquire); }

    // Wakes delivered so far (tests and stats).
    uint64_t eventfd_wakes() const { return eventfd_wakes_.load(std::memory_order_relaxed); }
    uint64_t ring_wakes() const { return ring_wakes_.load(std::memory_order_relaxed); }

  private:
    std::atomic<bool> pending_{false};
    std::atomic<int> ring_fd_{-1};
    std::atomic<uint64_t> eventfd_wakes_{0};
    std::atomic<uint64_t> ring_wakes_{0};
    int event_fd_ = -1;
};

}  // namespace wsgate::io
