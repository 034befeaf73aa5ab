// A token bucket (rate per second, burst) counted in integers on a
// caller-supplied millisecond clock: no floating point, no clock read, so
// it can be checked per message with the loop's clock of the turn.
#pragma once

#include <algorithm>
#include <cstdint>

namespace wsgate::ws {

// Tokens are held in thousandths (units): a rate of R tokens per second
// refills R units per millisecond, exactly. Rates and bursts up to 2^40
// keep every product within 64 bits.
struct TokenBucketRate {
    uint64_t per_second = 0;  // 0: unlimited
    uint64_t burst = 0;       // tokens a full bucket holds (at least 1)

    static constexpr uint64_t kUnits = 1000;
    uint64_t capacity_units() const { return std::max<uint64_t>(burst, 1) * kUnits; }
};

struct TokenBucket {
    uint64_t units = 0;
    uint32_t last_ms = 0;  // wraps after 49 days: differences stay right

    // A full bucket at now_ms.
    void fill(const TokenBucketRate& rate, uint32_t now_ms) {
        units = rate.capacity_units();
        last_ms = now_ms;
    }

    // Refills for the time since the last call, then takes `tokens` if the
    // bucket holds them. false: not enough (nothing taken).
    [[gnu::always_inline]] bool take(const TokenBucketRate& rate, uint64_t tokens,
                                     uint32_t now_ms) {
        refill(rate, now_ms);
        uint64_t cost = tokens * TokenBucketRate::kUnits;
        if (units < cost) return false;
        units -= cost;
        return true;
    }

    // Milliseconds until `tokens` (at most a full bucket) will be there.
    uint64_t ms_until(const TokenBucketRate& rate, uint64_t tokens, uint32_t now_ms) {
        refill(rate, now_ms);
        uint64_t cost = std::min(tokens * TokenBucketRate::kUnits, rate.capacity_units());
        if (units >= cost || rate.per_second == 0) return 0;
        return (cost - units + rate.per_second - 1) / rate.per_second;
    }

    // A time before last_ms refills nothing and leaves last_ms: a bucket
    // shared by loops sees each loop's clock of its turn, and a loop whose
    // turn began earlier may come second (read as unsigned, the step back
    // would be a 49-day gap that fills the bucket).
    [[gnu::always_inline]] void refill(const TokenBucketRate& rate, uint32_t now_ms) {
        const uint64_t cap = rate.capacity_units();
        const auto step = static_cast<int32_t>(now_ms - last_ms);
        if (step <= 0) {
            units = std::min(units, cap);
            return;
        }
        last_ms = now_ms;
        if (units >= cap || rate.per_second == 0) {
            units = std::min(units, cap);
            return;
        }
        // A gap long enough to overflow the product fills the bucket anyway.
        uint64_t add = 0;
        if (__builtin_mul_overflow(static_cast<uint64_t>(step), rate.per_second, &add) ||
            add >= cap - units) {
            units = cap;
        } else {
            units += add;
        }
    }
};

}  // namespace wsgate::ws
