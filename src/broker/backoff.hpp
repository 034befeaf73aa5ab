// Reconnect delays: exponential from min_ms to max_ms, each drawn at random
// from its upper half ("equal jitter", AWS Architecture Blog, "Exponential
// Backoff and Jitter"), so nodes that lost the same Redis at the same moment
// do not all come back in the same millisecond.
#pragma once

#include <algorithm>
#include <cstdint>

namespace wsgate::broker {

class Backoff {
  public:
    Backoff(uint32_t min_ms, uint32_t max_ms, uint64_t seed)
        : min_ms_(min_ms), max_ms_(std::max(min_ms, max_ms)), state_(seed | 1) {}

    // The delay before the next attempt; each call doubles the next one.
    uint32_t next_ms() {
        uint64_t full = std::min<uint64_t>(max_ms_, uint64_t{min_ms_} << std::min(attempt_, 20u));
        ++attempt_;
        uint64_t half = full / 2;
        return static_cast<uint32_t>(half + random() % (full - half + 1));
    }
    // Connected: the next failure starts from min_ms again.
    void reset() { attempt_ = 0; }
    uint32_t attempts() const { return attempt_; }

  private:
    uint64_t random() {  // xorshift64
        state_ ^= state_ << 13;
        state_ ^= state_ >> 7;
        state_ ^= state_ << 17;
        return state_;
    }

    uint32_t min_ms_;
    uint32_t max_ms_;
    uint32_t attempt_ = 0;
    uint64_t state_;
};

}  // namespace wsgate::broker
