// Bounded multi-producer single-consumer queue of small messages, without
// locks: D. Vyukov's bounded queue, each cell carrying a sequence number
// that says whose turn the cell is (producer: seq == position; consumer:
// seq == position + 1). A producer claims a position with one CAS, writes
// its message and publishes it with one release store; the consumer reads
// cells in order with acquire loads and no atomic read-modify-write at all.
//
// Full: try_push returns false and changes nothing (bounded memory; the
// producer decides whether to retry later). A producer preempted between
// claiming and publishing delays the messages behind it (the consumer stops
// at an unpublished cell and resumes at its next drain) but loses none.
// Messages of one producer are taken in the order it pushed them.
#pragma once

#include <atomic>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

namespace wsgate::io {

// What a message may be: copied in and out of a cell by value, small
// enough that a cell stays within one cache line.
template <class T>
concept RingMessage = std::is_trivially_copyable_v<T> && std::default_initializable<T> &&
                          sizeof(T) +
                          sizeof(std::atomic<size_t>) <=
                      64;

template <RingMessage T>
class MpscRing {
  public:
    // capacity: rounded up to a power of two (at least 2).
    explicit MpscRing(size_t capacity)
        : mask_(std::bit_ceil(capacity < 2 ? size_t{2} : capacity) - 1),
          cells_(std::make_unique<Cell[]>(mask_ + 1)) {
        for (size_t i = 0; i <= mask_; ++i)
            cells_[i].sequence.store(i, std::memory_order_relaxed);
    }
    MpscRing(const MpscRing&) = delete;
    MpscRing& operator=(const MpscRing&) = delete;

    // Any thread. False when the ring is full (nothing pushed).
    bool try_push(const T& message) {
        size_t pos = push_pos_.load(std::memory_order_relaxed);
        Cell* cell;
        for (;;) {
            cell = &cells_[pos & mask_];
            size_t seq = cell->sequence.load(std::memory_order_acquire);
            auto dif = static_cast<std::ptrdiff_t>(seq - pos);
            if (dif == 0) {
                if (push_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
                    break;
                }
            } else if (dif < 0) {
                return false;  // the consumer has not taken this cell's last message yet
            } else {
                pos = push_pos_.load(std::memory_order_relaxed);
            }
        }
        cell->message = message;
        cell->sequence.store(pos + 1, std::memory_order_release);
        return true;
    }

    // The consumer thread only. Takes the next published message.
    bool try_pop(T& out) {
        Cell& cell = cells_[pop_pos_ & mask_];
        if (cell.sequence.load(std::memory_order_acquire) != pop_pos_ + 1) return false;
        out = cell.message;
        cell.sequence.store(pop_pos_ + mask_ + 1, std::memory_order_release);
        ++pop_pos_;
        return true;
    }

    size_t capacity() const { return mask_ + 1; }

  private:
    struct Cell {
        std::atomic<size_t> sequence;
        T message;
    };

    const size_t mask_;
    std::unique_ptr<Cell[]> cells_;
    // Producers and the consumer write different lines.
    alignas(64) std::atomic<size_t> push_pos_{0};
    alignas(64) size_t pop_pos_ = 0;
};

}  // namespace wsgate::io
