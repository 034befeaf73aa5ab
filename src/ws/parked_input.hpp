// Parked input: bytes a connection has received that its loop must not
// process yet, kept in order until it may. A loop parks input when
//   - the connection's output queue is over --max-queued-bytes: processing
//     would only queue more (an echo, a response), and on io_uring the
//     kernel may already have delivered many more buffers in the same turn,
//     so stopping the receive alone does not stop the growth;
//   - it wants to yield after a bounded amount of work per loop turn, so one
//     connection cannot keep the others waiting.
// The bytes are neither processed nor dropped: they are copied into chunks
// of the loop's ChunkPool (the receive buffer goes straight back to the
// ring, so parked input never holds the ring), and everything received
// later is parked behind them until they are processed.
//
// How ServerLoop uses it (the contract for any other producer of parked work):
//   park(index, bytes)     keeps bytes after what `index` has parked already;
//                          the loop stops reading that connection while any
//                          input is parked (reading resumes once it is all
//                          processed and the output queue is under the cap).
//   schedule(index, gen)   asks for the parked input of `index` to be
//                          processed at the end of this loop turn, or of the
//                          next one when called while scheduled entries are
//                          being run (a yield); the loop does not sleep while
//                          anything is scheduled. ServerLoop schedules a
//                          connection when its queue drains under half the cap.
//   front(index) / consume(index, n)  the oldest parked bytes, in order
//                          (mutable, like a receive buffer: frames are unmasked
//                          in place), and dropping the n bytes used of them.
//   note_eof(index)        the peer's FIN came after the parked bytes: acted on
//                          once they are processed.
//   drop(index)            the connection is gone: frees what it parked.
// Memory: a connection parks at most what was delivered to it after it
// stopped being processed, and nothing more is read from it until its
// parked input has been processed. On epoll that is the rest of one read
// (at most one receive buffer). On io_uring it is the rest of the receive
// completions of the turn in which it went over the cap: one armed receive
// ends after UringBackend::kRecvBytesPerArm (256 KiB, plus the buffer that
// crosses it) on kernels with recv_total_limit (6.17; measured at most
// 276,100 bytes); before, a multishot receive requeues itself after 32
// buffers but may run again within the same wait, so only the ring and the
// socket's receive buffer bound it (measured 983,040 with a 64-buffer ring).
// Input is parked 1:1, whereas processing it could have queued many times
// its size (≈400 HTTP responses per receive buffer of pipelined requests).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/out_queue.hpp"

namespace wsgate::ws {

class ParkedInput {
  public:
    explicit ParkedInput(io::ChunkPool& pool) : pool_(pool) {}
    ~ParkedInput() {
        for (auto& [index, entry] : entries_)
            entry.bytes.clear(pool_);
    }
    ParkedInput(const ParkedInput&) = delete;
    ParkedInput& operator=(const ParkedInput&) = delete;

    void park(uint32_t index, std::span<const uint8_t> bytes) {
        if (bytes.empty()) return;
        Entry& e = entries_[index];
        e.bytes.append(pool_, bytes);
        bytes_ += bytes.size();
        if (e.bytes.size() > peak_connection_bytes_) peak_connection_bytes_ = e.bytes.size();
    }
    // Oldest parked bytes of `index` (empty: none); valid until the next
    // park/consume/drop of `index`.
    std::span<uint8_t> front(uint32_t index) const {
        auto it = entries_.find(index);
        if (it == entries_.end()) return {};
        iovec v{};
        if (it->second.bytes.gather(&v, 1) == 0) return {};
        return {static_cast<uint8_t*>(v.iov_base), v.iov_len};
    }
    void consume(uint32_t index, size_t n) {
        auto it = entries_.find(index);
        if (it == entries_.end()) return;
        it->second.bytes.consume(pool_, n);
        bytes_ -= n;
    }
    void note_eof(uint32_t index) { entries_[index].eof = true; }
    // True when nothing is parked; then whether a FIN was parked, and the
    // entry is freed.
    bool drained(uint32_t index, bool& eof) {
        auto it = entries_.find(index);
        if (it == entries_.end()) {
            eof = false;
            return true;
        }
        if (!it->second.bytes.empty()) return false;
        eof = it->second.eof;
        entries_.erase(it);
        return true;
    }
    void drop(uint32_t index) {
        auto it = entries_.find(index);
        if (it == entries_.end()) return;
        bytes_ -= it->second.bytes.size();
        it->second.bytes.clear(pool_);
        entries_.erase(it);
    }

    void schedule(uint32_t index, uint32_t generation) {
        scheduled_.push_back({index, generation});
    }
    bool any_scheduled() const { return !scheduled_.empty(); }
    // Calls fn(index, generation) for each entry scheduled before this call
    // (an entry may be scheduled twice; fn checks there is work). Entries
    // scheduled by fn run at the next call.
    template <class Fn>
    void run_scheduled(Fn&& fn) {
        running_.swap(scheduled_);
        for (const Ref& r : running_)
            fn(r.index, r.generation);
        running_.clear();
    }

    // Bytes parked in this loop now, and connections with parked input.
    size_t bytes() const { return bytes_; }
    size_t connections() const { return entries_.size(); }
    // The most one connection has had parked at once.
    size_t peak_connection_bytes() const { return peak_connection_bytes_; }

  private:
    struct Entry {
        io::OutQueue bytes;
        bool eof = false;
    };
    struct Ref {
        uint32_t index;
        uint32_t generation;
    };
    io::ChunkPool& pool_;
    std::unordered_map<uint32_t, Entry> entries_;
    std::vector<Ref> scheduled_;
    std::vector<Ref> running_;
    size_t bytes_ = 0;
    size_t peak_connection_bytes_ = 0;
};

}  // namespace wsgate::ws
