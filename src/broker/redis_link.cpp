#include "broker/redis_link.hpp"

#include <algorithm>

#include "io/log.hpp"

namespace wsgate::broker {

RedisLink::RedisLink(const RedisLinkSettings& settings, std::string name, LinkEvents events,
                     uint64_t seed)
    : settings_(settings),
      name_(std::move(name)),
      events_(events),
      backoff_(settings.backoff_min_ms, settings.backoff_max_ms, seed),
      reader_(settings.max_reply_bytes) {
    pending_.resize(64);
}

void RedisLink::expect(ReplyFn fn, void* owner, uint64_t cookie) {
    push_pending(Pending{fn, owner, cookie, now_ms_});
}

void RedisLink::push_pending(const Pending& p) {
    if (pending_size_ == pending_.size()) {
        // Grows by doubling, unrolled so the ring starts at 0 again.
        std::vector<Pending> bigger(pending_.size() * 2);
        for (size_t i = 0; i < pending_size_; ++i)
            bigger[i] = pending_[(pending_head_ + i) & (pending_.size() - 1)];
        pending_.swap(bigger);
        pending_head_ = 0;
    }
    pending_[(pending_head_ + pending_size_) & (pending_.size() - 1)] = p;
    ++pending_size_;
}

RedisLink::Pending RedisLink::pop_pending() {
    Pending p = pending_[pending_head_];
    pending_head_ = (pending_head_ + 1) & (pending_.size() - 1);
    --pending_size_;
    return p;
}

void RedisLink::queue_handshake() {
    handshake_left_ = 0;
    if (!settings_.password.empty()) {
        writer_.command("AUTH", settings_.password);
        expect(nullptr, nullptr, 0);
        ++handshake_left_;
    }
    if (settings_.db != 0) {
        writer_.command("SELECT", settings_.db);
        expect(nullptr, nullptr, 0);
        ++handshake_left_;
    }
    // Also proves the server answers (a frozen one accepts connections).
    writer_.command("PING");
    expect(nullptr, nullptr, 0);
    ++handshake_left_;
}

bool RedisLink::dispatch(const RespValue& reply) {
    last_reply_ms_ = now_ms_;
    if (events_.on_push != nullptr && reply.type == RespType::array && reply.count >= 3 &&
        reply[0].is("message")) {
        events_.on_push(events_.owner, reply);
        return true;
    }
    if (pending_size_ == 0) {
        last_error_ = "reply to no command";
        return false;
    }
    Pending p = pop_pending();
    if (state_ == State::handshaking) {
        if (reply.is_error()) {
            last_error_.assign(reply.text);  // AUTH or SELECT refused
            return false;
        }
        if (--handshake_left_ == 0) {
            state_ = State::up;
            ++ups_;
            backoff_.reset();
            if (logged_down_ || !was_up_) log_line("up", {});
            was_up_ = true;
            logged_down_ = false;
            if (events_.on_up != nullptr) events_.on_up(events_.owner);
        }
        return true;
    }
    if (p.fn != nullptr) p.fn(p.owner, p.cookie, &reply);
    return true;
}

void RedisLink::lost(std::string_view why, int64_t now_ms) {
    const bool was_up = state_ == State::up;
    state_ = State::down;
    last_error_.assign(why);
    writer_.clear();
    // What waited fails now, oldest first, so callers answer in order.
    while (pending_size_ > 0) {
        Pending p = pop_pending();
        if (p.fn != nullptr) p.fn(p.owner, p.cookie, nullptr);
    }
    if (!stopped_) {
        reconnect_at_ms_ = now_ms + backoff_.next_ms();
        if (!logged_down_) {
            log_line(was_up ? "down" : "unreachable", why);
            logged_down_ = true;
        }
    }
    if (was_up && events_.on_down != nullptr) events_.on_down(events_.owner);
}

int RedisLink::ms_until_due(int64_t now_ms) const {
    if (stopped_) return 60 * 1000;
    auto until = [&](int64_t at) {
        return static_cast<int>(std::clamp<int64_t>(at - now_ms, 0, 60 * 1000));
    };
    switch (state_) {
        case State::down:
            return until(reconnect_at_ms_);
        case State::connecting:
            return 60 * 1000;  // the loop's connect timeout
        case State::handshaking:
        case State::up:
            if (!writer_.empty()) return 0;
            if (pending_size_ > 0) {
                return until(front_pending().queued_ms + settings_.command_timeout_ms);
            }
            return until(last_reply_ms_ + settings_.keepalive_ms);
    }
    return 0;
}

void RedisLink::log_line(const char* what, std::string_view why) const {
    if (why.empty()) {
        io::log(io::LogLevel::info, "", io::kNoConn, {}, "redis %s: %s", name_.c_str(), what);
    } else {
        io::log(io::LogLevel::info, "", io::kNoConn, {},
                "redis %s: %s (%.*s); reconnecting with backoff", name_.c_str(), what,
                static_cast<int>(why.size()), why.data());
    }
}

}  // namespace wsgate::broker
