#include "pubsub/publication_record.hpp"

#include <cstring>
#include <new>

#include "proto/json_out.hpp"

namespace wsgate::pubsub {

namespace {
std::atomic<size_t> live_records{0};
}  // namespace

PublicationRecord* PublicationRecord::create(std::string_view channel, uint64_t channel_hash,
                                             const proto::centrifugo::Publication& pub,
                                             int64_t time_ms) {
    size_t bound = proto::centrifugo::publication_push_bound(channel, pub);
    void* p = ::operator new(sizeof(PublicationRecord) + channel.size() + bound);
    auto* r = new (p) PublicationRecord;
    std::memcpy(r->text(), channel.data(), channel.size());
    proto::JsonOut out({r->text() + channel.size(), bound});
    proto::centrifugo::EncodedPublication e =
        proto::centrifugo::write_publication_push(out, channel, pub);
    r->channel_len_ = static_cast<uint32_t>(channel.size());
    r->push_len_ = static_cast<uint32_t>(e.end - e.begin);
    r->object_begin_ = static_cast<uint32_t>(e.object_begin - e.begin);
    r->object_len_ = static_cast<uint32_t>(e.object_end - e.object_begin);
    r->channel_hash_ = channel_hash;
    r->offset_ = pub.offset;
    r->time_ms_ = time_ms;
    live_records.fetch_add(1, std::memory_order_relaxed);
    return r;
}

PublicationRecord* PublicationRecord::from_push(std::string_view channel, uint64_t channel_hash,
                                                std::string_view push, uint32_t object_begin,
                                                uint32_t object_len, uint64_t offset,
                                                int64_t time_ms) {
    if (object_begin > push.size() || object_len > push.size() - object_begin) return nullptr;
    void* p = ::operator new(sizeof(PublicationRecord) + channel.size() + push.size());
    auto* r = new (p) PublicationRecord;
    std::memcpy(r->text(), channel.data(), channel.size());
    std::memcpy(r->text() + channel.size(), push.data(), push.size());
    r->channel_len_ = static_cast<uint32_t>(channel.size());
    r->push_len_ = static_cast<uint32_t>(push.size());
    r->object_begin_ = object_begin;
    r->object_len_ = object_len;
    r->channel_hash_ = channel_hash;
    r->offset_ = offset;
    r->time_ms_ = time_ms;
    live_records.fetch_add(1, std::memory_order_relaxed);
    return r;
}

void PublicationRecord::destroy() {
    live_records.fetch_sub(1, std::memory_order_relaxed);
    this->~PublicationRecord();
    ::operator delete(this);
}

size_t PublicationRecord::live() {
    return live_records.load(std::memory_order_relaxed);
}

}  // namespace wsgate::pubsub
