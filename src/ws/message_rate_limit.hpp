// Per-connection message and byte rates (--max-messages-per-second,
// --max-bytes-per-second): two token buckets per connection slot, in an
// array of the loop's own, allocated only once a rate is set (at start-up
// or by a reload), so the Connection record does not grow and a loop
// without limits pays one predictable branch per message. Checked with the loop's clock of the
// turn: no clock read, no allocation, no system call per message.
#pragma once

#include <cstdint>
#include <new>

#include "ws/edge_limits.hpp"
#include "ws/token_bucket.hpp"
#include "ws/zero_pages.hpp"

namespace wsgate::ws {

class MessageRateLimit {
  public:
    enum class Verdict : uint8_t { ok, messages, bytes };

    MessageRateLimit(const EdgeLimits& limits, uint32_t slots) : slots_(slots) {
        messages_ = {limits.messages_per_second, limits.message_burst};
        bytes_ = {limits.bytes_per_second, limits.byte_burst};
        // Zero pages: slots never used cost nothing (a zero bucket is empty
        // and open() fills it).
        if (limits.limits_message_rate()) buckets_.allocate(slots_);
    }

    // A reload's rates. Unchanged: nothing happens. Changed: each open
    // connection (for_each_open(visit) calls visit(slot) for each) starts
    // the next second's budget with full buckets at the new rates; a zero
    // rate is off. false: the table could not be allocated (the rates
    // stay as they were).
    template <class ForEachOpen>
    bool update(const EdgeLimits& limits, uint32_t now_ms, ForEachOpen&& for_each_open) {
        const TokenBucketRate messages{limits.messages_per_second, limits.message_burst};
        const TokenBucketRate bytes{limits.bytes_per_second, limits.byte_burst};
        if (messages.per_second == messages_.per_second && messages.burst == messages_.burst &&
            bytes.per_second == bytes_.per_second && bytes.burst == bytes_.burst) {
            return true;
        }
        if (!enabled() && limits.limits_message_rate()) {
            try {
                buckets_.allocate(slots_);
            } catch (const std::bad_alloc&) {
                return false;
            }
        }
        messages_ = messages;
        bytes_ = bytes;
        for_each_open([this, now_ms](uint32_t slot) { open(slot, now_ms); });
        return true;
    }

    bool enabled() const { return static_cast<bool>(buckets_); }

    // A connection opened (its WebSocket): full buckets.
    void open(uint32_t slot, uint32_t now_ms) {
        if (!enabled()) return;
        buckets_[slot].messages.fill(messages_, now_ms);
        buckets_[slot].bytes.fill(bytes_, now_ms);
    }

    // One message (or ping/pong) begins on slot.
    [[gnu::always_inline]] Verdict message(uint32_t slot, uint32_t now_ms) {
        if (!enabled() || messages_.per_second == 0) return Verdict::ok;
        return buckets_[slot].messages.take(messages_, 1, now_ms) ? Verdict::ok : Verdict::messages;
    }

    // n payload bytes arrived on slot.
    [[gnu::always_inline]] Verdict bytes(uint32_t slot, uint64_t n, uint32_t now_ms) {
        if (!enabled() || bytes_.per_second == 0) return Verdict::ok;
        return buckets_[slot].bytes.take(bytes_, n, now_ms) ? Verdict::ok : Verdict::bytes;
    }

  private:
    struct Buckets {
        TokenBucket messages;
        TokenBucket bytes;
    };
    uint32_t slots_;
    TokenBucketRate messages_;
    TokenBucketRate bytes_;
    ZeroPages<Buckets> buckets_;
};

}  // namespace wsgate::ws
