#include "pubsub/channel_stream.hpp"

namespace wsgate::pubsub {

ChannelStream::ChannelStream(uint32_t history_size, int64_t history_ttl_ms, uint64_t epoch_seed)
    : history_size_(history_size), history_ttl_ms_(history_ttl_ms) {
    epoch_letters(epoch_seed, epoch_);
}

void ChannelStream::epoch_letters(uint64_t seed, char (&out)[kEpochBytes]) {
    // The hub mixes a random value per process with a counter, so a stream
    // created again gets another epoch.
    static constexpr char kLetters[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint64_t x = seed;
    for (char& c : out) {
        c = kLetters[x % (sizeof(kLetters) - 1)];
        x /= sizeof(kLetters) - 1;
    }
}

void ChannelStream::reposition(uint64_t top, std::string_view epoch) {
    history_.clear();
    top_ = top;
    for (size_t i = 0; i < kEpochBytes; ++i)
        epoch_[i] = i < epoch.size() ? epoch[i] : '-';
}

void ChannelStream::adopt(uint64_t top, std::string_view epoch,
                          std::vector<PublicationRef> history) {
    reposition(top, epoch);
    for (PublicationRef& p : history) {
        if (history_size_ == 0) break;
        if (history_.size() == history_size_) history_.pop_front();
        history_.push_back(std::move(p));
    }
}

void ChannelStream::append(uint64_t offset, PublicationRef pub) {
    top_ = offset;
    if (history_size_ == 0) return;
    while (history_.size() >= history_size_)
        history_.pop_front();
    history_.push_back(std::move(pub));
}

void ChannelStream::set_history_limits(uint32_t history_size, int64_t history_ttl_ms) {
    history_size_ = history_size;
    history_ttl_ms_ = history_ttl_ms;
    while (history_.size() > history_size_)
        history_.pop_front();
}

void ChannelStream::expire(int64_t now_ms) {
    while (!history_.empty() && history_.front()->time_ms() + history_ttl_ms_ <= now_ms)
        history_.pop_front();
}

proto::centrifugo::StreamBounds ChannelStream::bounds() const {
    proto::centrifugo::StreamBounds b;
    b.epoch = epoch();
    b.top = top_;
    b.oldest = history_.empty() ? 0 : history_.front()->offset();
    return b;
}

PublicationRecord* ChannelStream::at(uint64_t offset) const {
    if (history_.empty()) return nullptr;
    uint64_t oldest = history_.front()->offset();
    if (offset < oldest || offset > top_) return nullptr;
    return history_[offset - oldest].get();
}

}  // namespace wsgate::pubsub
