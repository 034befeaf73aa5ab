// One publication as the channel's home loop issued it: offset, time, and
// the push `{"push":{"channel":..,"pub":{..}}}` encoded once. It is shared by
// the channel's history and by every loop it is forwarded to, so its count
// of references is atomic (the only atomic on the publication path: one
// increment per loop, never per subscriber). Immutable once published.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proto/centrifugo_reply_writer.hpp"

namespace wsgate::pubsub {

class PublicationRecord {
  public:
    // Encodes the push of `pub` on `channel` (channel_hash: the channel
    // table's hash of it) into a new record with one reference.
    static PublicationRecord* create(std::string_view channel, uint64_t channel_hash,
                                     const proto::centrifugo::Publication& pub, int64_t time_ms);

    // A record as another process encoded it (live upgrade): its push as
    // is, with where the publication object lies in it. nullptr when the
    // object does not lie within the push.
    static PublicationRecord* from_push(std::string_view channel, uint64_t channel_hash,
                                        std::string_view push, uint32_t object_begin,
                                        uint32_t object_len, uint64_t offset, int64_t time_ms);
    uint32_t object_begin() const { return object_begin_; }

    std::string_view channel() const { return {text(), channel_len_}; }
    uint64_t channel_hash() const { return channel_hash_; }
    uint64_t offset() const { return offset_; }
    int64_t time_ms() const { return time_ms_; }
    // The whole push (a WebSocket text message by itself).
    std::string_view push() const { return {text() + channel_len_, push_len_}; }
    // The publication object inside the push, for history and recovery replies.
    std::string_view object() const { return push().substr(object_begin_, object_len_); }

    void retain(uint32_t n = 1) { refs_.fetch_add(n, std::memory_order_relaxed); }
    void release() {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
    }

    // Records alive in the process (tests: a leak shows as a count that does
    // not return to zero).
    static size_t live();

  private:
    PublicationRecord() = default;
    void destroy();
    const char* text() const { return reinterpret_cast<const char*>(this + 1); }
    char* text() { return reinterpret_cast<char*>(this + 1); }

    std::atomic<uint32_t> refs_{1};
    uint32_t channel_len_ = 0;
    uint32_t push_len_ = 0;
    uint32_t object_begin_ = 0;
    uint32_t object_len_ = 0;
    uint64_t channel_hash_ = 0;
    uint64_t offset_ = 0;
    int64_t time_ms_ = 0;
};

// Holds one reference; move-only.
class PublicationRef {
  public:
    PublicationRef() = default;
    explicit PublicationRef(PublicationRecord* r) : r_(r) {}
    PublicationRef(PublicationRef&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
    PublicationRef& operator=(PublicationRef&& o) noexcept {
        if (this != &o) {
            reset();
            r_ = o.r_;
            o.r_ = nullptr;
        }
        return *this;
    }
    PublicationRef(const PublicationRef&) = delete;
    PublicationRef& operator=(const PublicationRef&) = delete;
    ~PublicationRef() { reset(); }

    // Another reference to the same record.
    PublicationRef share() const {
        r_->retain();
        return PublicationRef(r_);
    }
    // Hands the reference over (e.g. into an inbox message).
    PublicationRecord* release() {
        PublicationRecord* r = r_;
        r_ = nullptr;
        return r;
    }
    void reset() {
        if (r_ != nullptr) r_->release();
        r_ = nullptr;
    }
    PublicationRecord* get() const { return r_; }
    PublicationRecord* operator->() const { return r_; }
    explicit operator bool() const { return r_ != nullptr; }

  private:
    PublicationRecord* r_ = nullptr;
};

}  // namespace wsgate::pubsub
