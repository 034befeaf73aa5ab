// The little binary format the hub's live-upgrade state is written in
// (hub_handover.hpp): integers in host order (both processes run on the
// same machine), strings with their length first. The reader never reads
// past its bytes: a short or inconsistent input leaves it failed.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

namespace wsgate::pubsub {

class HandoverWriter {
  public:
    explicit HandoverWriter(std::vector<uint8_t>& out) : out_(out) {}

    template <class T>
    requires std::is_integral_v<T>
    void put(T v) {
        const auto* p = reinterpret_cast<const uint8_t*>(&v);
        out_.insert(out_.end(), p, p + sizeof(T));
    }
    // A string of at most 65535 bytes (channel names and users are bounded
    // well below it), its length first.
    void put_short(std::string_view s) {
        put(static_cast<uint16_t>(s.size()));
        bytes(s);
    }
    void put_long(std::string_view s) {
        put(static_cast<uint32_t>(s.size()));
        bytes(s);
    }

  private:
    void bytes(std::string_view s) {
        const auto* p = reinterpret_cast<const uint8_t*>(s.data());
        out_.insert(out_.end(), p, p + s.size());
    }
    std::vector<uint8_t>& out_;
};

class HandoverReader {
  public:
    explicit HandoverReader(std::span<const uint8_t> in) : in_(in) {}

    template <class T>
    requires std::is_integral_v<T> T get() {
        T v{};
        if (!take(sizeof(T))) return v;
        std::memcpy(&v, in_.data() + at_ - sizeof(T), sizeof(T));
        return v;
    }
    std::string_view get_short() { return text(get<uint16_t>()); }
    std::string_view get_long() { return text(get<uint32_t>()); }

    bool ok() const { return ok_; }
    bool done() const { return ok_ && at_ == in_.size(); }
    void fail() { ok_ = false; }

  private:
    bool take(size_t n) {
        if (!ok_ || in_.size() - at_ < n) {
            ok_ = false;
            return false;
        }
        at_ += n;
        return true;
    }
    std::string_view text(size_t n) {
        if (!take(n)) return {};
        return {reinterpret_cast<const char*>(in_.data() + at_ - n), n};
    }
    std::span<const uint8_t> in_;
    size_t at_ = 0;
    bool ok_ = true;
};

}  // namespace wsgate::pubsub
