// Recovery on subscribe (centrifugal.dev "History and recovery"): a client
// that subscribes with `recover`, the offset of the last publication it got
// and the channel's epoch then, gets the publications it missed and
// `recovered: true` only when the stream still holds every one of them and the
// epoch is unchanged; otherwise `recovered: false` and no publications, so the
// SDK reports the loss instead of delivering a stream with a hole in it.
// centrifuge's isRecovered applies the same test to what history returned
// (first publication == offset + 1, epoch equal; or no publication and
// offset == top); here it is decided from the stream's bounds, before any
// publication is copied.
#pragma once

#include <cstdint>
#include <string_view>

namespace wsgate::proto::centrifugo {

// What a channel's home loop knows of its stream.
struct StreamBounds {
    std::string_view epoch;  // changes whenever history is lost (restart, expiry)
    uint64_t top = 0;        // offset of the newest publication; 0 = none yet
    uint64_t oldest = 0;     // offset of the oldest publication history still holds;
                             // 0 = history holds none
};

struct RecoveryPlan {
    bool recovered = false;
    // Offsets to send, in order, when recovered: first..last inclusive; an
    // empty range (first > last) when nothing was missed.
    uint64_t first = 1;
    uint64_t last = 0;
    constexpr uint64_t count() const { return first > last ? 0 : last - first + 1; }
};

// `max_publications` bounds one recovery (Centrifugo's
// client_recovery_max_publication_limit, 300 by default): more missed than
// that is not recovered.
constexpr RecoveryPlan plan_recovery(uint64_t client_offset, std::string_view client_epoch,
                                     const StreamBounds& stream, uint64_t max_publications) {
    RecoveryPlan plan;
    if (client_epoch != stream.epoch || client_offset > stream.top) return plan;
    if (client_offset == stream.top) {
        plan.recovered = true;
        return plan;
    }
    uint64_t missed = stream.top - client_offset;
    bool held = stream.oldest != 0 && stream.oldest <= client_offset + 1;
    if (!held || missed > max_publications) return plan;
    plan.recovered = true;
    plan.first = client_offset + 1;
    plan.last = stream.top;
    return plan;
}

}  // namespace wsgate::proto::centrifugo
