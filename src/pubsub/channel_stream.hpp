// A channel's stream as its home loop keeps it (centrifugal.dev "History and
// recovery"): the offset of the newest publication, the epoch (a name for
// this incarnation of the stream: it changes whenever the stream is created
// afresh, so a client holding offsets of a lost stream can tell), the last
// publications (bounded in number and age) and which other loops have
// subscribers and so get every publication forwarded.
#pragma once

#include <bitset>
#include <cstdint>
#include <deque>
#include <string_view>
#include <vector>

#include "proto/centrifugo_recovery.hpp"
#include "pubsub/publication_record.hpp"
#include "ws/connection_handle.hpp"

namespace wsgate::pubsub {

class ChannelStream {
  public:
    static constexpr size_t kEpochBytes = 8;

    ChannelStream(uint32_t history_size, int64_t history_ttl_ms, uint64_t epoch_seed);

    // The next offset to assign (1 for a fresh stream).
    uint64_t next_offset() const { return top_ + 1; }
    uint64_t top() const { return top_; }
    std::string_view epoch() const { return {epoch_, kEpochBytes}; }

    // Moves the top to `offset` (next_offset()) and takes `pub` into the
    // history, when it keeps one.
    void append(uint64_t offset, PublicationRef pub);

    // The stream as Redis has it now (--engine redis): top and epoch taken
    // over, the history kept here (a cache of Redis's) emptied.
    void reposition(uint64_t top, std::string_view epoch);

    // The stream another process kept (live upgrade): its top and epoch,
    // and its history, oldest first (the newest history_size kept).
    void adopt(uint64_t top, std::string_view epoch, std::vector<PublicationRef> history);

    // Eight letters from a seed: an epoch.
    static void epoch_letters(uint64_t seed, char (&out)[kEpochBytes]);

    // Drops publications older than the TTL at now_ms.
    void expire(int64_t now_ms);

    // New limits from a reload (the channel's namespace changed): history
    // is cut to the newest `history_size` at once; the TTL applies at the
    // next expire().
    void set_history_limits(uint32_t history_size, int64_t history_ttl_ms);
    uint32_t history_size() const { return history_size_; }

    proto::centrifugo::StreamBounds bounds() const;

    // The publication at `offset` (which history must hold), or nullptr.
    PublicationRecord* at(uint64_t offset) const;
    const std::deque<PublicationRef>& history() const { return history_; }

    std::bitset<ws::ConnectionHandle::kMaxLoops>& interested() { return interested_; }
    bool history_empty() const { return history_.empty(); }

  private:
    std::deque<PublicationRef> history_;
    std::bitset<ws::ConnectionHandle::kMaxLoops> interested_;
    uint64_t top_ = 0;
    uint32_t history_size_;
    int64_t history_ttl_ms_;
    char epoch_[kEpochBytes];
};

}  // namespace wsgate::pubsub
