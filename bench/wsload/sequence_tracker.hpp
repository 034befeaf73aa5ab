#pragma once
// Checks the stream one subscriber gets from one publisher on one channel:
// the publisher numbers its publications 1, 2, 3, … per channel, and the hub
// must deliver them in that order with no gap and no duplicate (PUBSUB_SPEC
// "Ordering"). A 64-entry window of recently seen numbers tells a late
// arrival (reordered: it had been counted lost, and no longer is) from a
// duplicate. Independent of sockets; 24 bytes.

#include <cstdint>

namespace wsgate::bench {

struct SequenceCounts {
    std::uint64_t lost = 0;        // numbers never delivered (so far)
    std::uint64_t duplicates = 0;  // numbers delivered twice
    std::uint64_t reordered = 0;   // numbers delivered after a higher one
};

class SequenceTracker {
  public:
    // Records delivery of `sequence` (>= 1).
    void deliver(std::uint64_t sequence, SequenceCounts& counts) {
        if (sequence > highest_) {
            const std::uint64_t gap = sequence - highest_ - 1;
            counts.lost += gap;
            window_ = gap >= 63 ? 0 : window_ << (gap + 1);
            window_ |= 1;  // bit 0: highest_ itself
            highest_ = sequence;
            return;
        }
        if (sequence == 0) {
            ++counts.duplicates;  // never published: count it somewhere visible
            return;
        }
        const std::uint64_t back = highest_ - sequence;
        if (back >= 64) {  // too old to tell: take it as a late arrival
            ++counts.reordered;
            if (counts.lost > 0) --counts.lost;
            return;
        }
        const std::uint64_t bit = std::uint64_t{1} << back;
        if (window_ & bit) {
            ++counts.duplicates;
            return;
        }
        window_ |= bit;
        ++counts.reordered;
        --counts.lost;  // counted as a gap when the higher one came
    }

    // At the end of a run: the publisher's last number was `published`;
    // whatever after highest() never came is lost.
    void finish(std::uint64_t published, SequenceCounts& counts) const {
        if (published > highest_) counts.lost += published - highest_;
    }

    std::uint64_t highest() const { return highest_; }

  private:
    std::uint64_t highest_ = 0;
    std::uint64_t window_ = 0;  // bit i: highest_ - i was delivered
};

// Checks the hub's per-channel offsets as one subscriber sees them: each
// publication's offset is exactly one more than the one before (PUBSUB_SPEC:
// "offset counts from 1 per channel").
class OffsetTracker {
  public:
    // The subscribe reply's position (the channel's top when subscribing).
    void start_at(std::uint64_t offset) {
        last_ = offset;
        started_ = true;
    }
    // True when `offset` follows the last one; the first publication seen
    // without a subscribe position starts the count.
    bool deliver(std::uint64_t offset) {
        const bool ok = !started_ || offset == last_ + 1;
        last_ = offset;
        started_ = true;
        return ok;
    }

  private:
    std::uint64_t last_ = 0;
    bool started_ = false;
};

}  // namespace wsgate::bench
