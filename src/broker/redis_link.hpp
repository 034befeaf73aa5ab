// One connection to a Redis server, living in a loop as one more byte
// stream (ws/stream_application.hpp): no thread, no blocking call. Commands
// are encoded into one buffer (RespWriter) and sent once per loop turn, so
// a turn's commands are pipelined in one send; replies are parsed in the
// loop (RespReader) and handed, in order, to whoever sent each command.
//
// Life: down -> connecting -> handshaking (AUTH, SELECT, PING) -> up. Any
// failure (connect refused or timed out, a command unanswered after
// command_timeout_ms, a reply over max_reply_bytes or malformed, the peer
// closing) closes the connection, fails every command still waiting (its
// callback gets a null reply) and reconnects after an exponential backoff
// with jitter. A link that is up and idle sends PING every keepalive_ms, so
// a frozen server is noticed within keepalive + command timeout even with
// no traffic. One log line per change of state (up, down), not per failed
// attempt or command.
//
// A subscriber link (RESP2 pub/sub mode) also gets messages nobody asked
// for: arrays whose first element is "message" go to on_push.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/backoff.hpp"
#include "broker/resp_reader.hpp"
#include "broker/resp_writer.hpp"
#include "io/listener.hpp"
#include "ws/application.hpp"
#include "ws/connection_handle.hpp"

namespace wsgate::broker {

struct RedisLinkSettings {
    io::Endpoint endpoint;
    std::string password;  // empty: no AUTH
    uint32_t db = 0;       // SELECT when not 0
    uint32_t connect_timeout_ms = 1000;
    uint32_t command_timeout_ms = 1000;
    uint32_t keepalive_ms = 1000;
    uint32_t backoff_min_ms = 50;
    uint32_t backoff_max_ms = 2000;
    size_t max_reply_bytes = 64u << 20;
    // Commands waiting to be sent or answered, and their bytes: beyond,
    // send() refuses (the caller fails fast rather than queueing without end).
    uint32_t max_pending = 1u << 16;
    size_t max_pending_bytes = 16u << 20;
};

// A command's answer: `reply` is null when the link was lost first.
using ReplyFn = void (*)(void* owner, uint64_t cookie, const RespValue* reply);

// What the link tells its owner besides replies.
struct LinkEvents {
    void* owner = nullptr;
    void (*on_up)(void* owner) = nullptr;
    void (*on_down)(void* owner) = nullptr;
    void (*on_push)(void* owner, const RespValue& message) = nullptr;  // subscriber links
};

class RedisLink {
  public:
    enum class State : uint8_t { down, connecting, handshaking, up };

    // name: for log lines ("127.0.0.1:6379 loop 0 sub").
    RedisLink(const RedisLinkSettings& settings, std::string name, LinkEvents events,
              uint64_t seed);

    State state() const { return state_; }
    bool up() const { return state_ == State::up; }
    const std::string& name() const { return name_; }
    ws::ConnectionHandle handle() const { return handle_; }
    bool owns(ws::ConnectionHandle h) const { return !handle_.empty() && h == handle_; }

    // Queues a command (arguments: string views or integers) in this turn's
    // pipeline. False, nothing queued, when the link is not up or its
    // pipeline is full.
    template <class... Args>
    bool send(ReplyFn fn, void* owner, uint64_t cookie, const Args&... args) {
        if (!accepting()) return false;
        writer_.command(args...);
        expect(fn, owner, cookie);
        return true;
    }
    // For commands built argument by argument: accepting(), then
    // writer().begin(n) and n arguments, then expect().
    bool accepting() const { return state_ == State::up && !full(); }
    RespWriter& writer() { return writer_; }
    void expect(ReplyFn fn, void* owner, uint64_t cookie);

    // Commands sent or queued and not yet answered.
    size_t pending() const { return pending_size_; }
    // Times the link came up (tests, metrics).
    uint64_t ups() const { return ups_; }
    // The reason of the last failure ("" before any).
    const std::string& last_error() const { return last_error_; }

    // ---- driven by the loop ----

    // Connects (at once, or when the backoff delay has passed), sends the
    // turn's pipeline, applies the command timeout and keepalive.
    template <class Loop>
    void tick(Loop& loop, int64_t now_ms);
    // Milliseconds until tick has something to do (0: now).
    int ms_until_due(int64_t now_ms) const;

    template <class Loop>
    void on_connected(Loop& loop, ws::ConnectionHandle h);
    template <class Loop>
    size_t on_data(Loop& loop, ws::ConnectionHandle h, std::span<uint8_t> bytes);
    template <class Loop>
    void on_drained(Loop& loop, ws::ConnectionHandle h);
    template <class Loop>
    void on_end(Loop& loop, ws::ConnectionHandle h, int error);
    // Closes for good (shutdown): fails what waits, no reconnect.
    template <class Loop>
    void stop(Loop& loop);

  private:
    struct Pending {
        ReplyFn fn = nullptr;  // null: the link's own command (handshake, keepalive)
        void* owner = nullptr;
        uint64_t cookie = 0;
        int64_t queued_ms = 0;
    };

    bool full() const {
        return pending_size_ >= settings_.max_pending ||
               writer_.size() >= settings_.max_pending_bytes;
    }
    void push_pending(const Pending& p);
    Pending pop_pending();
    const Pending& front_pending() const { return pending_[pending_head_]; }

    // The reply to the oldest command. False: the link failed (closed).
    bool dispatch(const RespValue& reply);
    void queue_handshake();
    // Forgets the connection: fails what waits, schedules the reconnect,
    // logs when the state changed. The caller has closed or finished it.
    void lost(std::string_view why, int64_t now_ms);
    void log_line(const char* what, std::string_view why) const;

    template <class Loop>
    void close(Loop& loop, std::string_view why) {
        ws::ConnectionHandle h = handle_;
        handle_ = {};
        if (!h.empty()) loop.finish_stream(h);
        lost(why, now_ms_);
    }

    template <class Loop>
    void flush(Loop& loop);

    static void internal_reply(void*, uint64_t, const RespValue*) {}

    const RedisLinkSettings& settings_;
    std::string name_;
    LinkEvents events_;
    Backoff backoff_;
    RespReader reader_;
    RespWriter writer_;
    std::vector<Pending> pending_;  // ring, capacity a power of two
    size_t pending_head_ = 0;
    size_t pending_size_ = 0;
    ws::ConnectionHandle handle_;
    State state_ = State::down;
    bool stopped_ = false;
    bool was_up_ = false;          // up since the last "down" line (or never logged)
    bool logged_down_ = false;     // a "down" line was printed since the last "up"
    uint32_t handshake_left_ = 0;  // handshake replies still expected
    int64_t now_ms_ = 0;
    int64_t reconnect_at_ms_ = 0;
    int64_t last_reply_ms_ = 0;
    uint64_t ups_ = 0;
    std::string last_error_;
};

// ---- template members ----

template <class Loop>
void RedisLink::tick(Loop& loop, int64_t now_ms) {
    now_ms_ = now_ms;
    if (stopped_) return;
    if (state_ == State::down) {
        if (now_ms < reconnect_at_ms_) return;
        int error = 0;
        handle_ = loop.connect(reinterpret_cast<const sockaddr*>(&settings_.endpoint.addr),
                               settings_.endpoint.len, settings_.connect_timeout_ms, &error);
        if (handle_.empty()) {
            // The loop is shutting down: the link ends quietly.
            if (error == -ESHUTDOWN) stopped_ = true;
            lost(std::strerror(-error), now_ms);
            return;
        }
        *loop.app_state(handle_) = 0;  // the owner tags it if it needs to
        state_ = State::connecting;
        return;
    }
    if (state_ == State::connecting) return;  // the loop's connect timeout applies
    if (pending_size_ > 0 &&
        now_ms - front_pending().queued_ms >= int64_t{settings_.command_timeout_ms}) {
        close(loop, "command timed out");
        return;
    }
    if (state_ == State::up && pending_size_ == 0 && writer_.empty() &&
        now_ms - last_reply_ms_ >= int64_t{settings_.keepalive_ms}) {
        writer_.command("PING");
        expect(nullptr, nullptr, 0);
    }
    flush(loop);
}

template <class Loop>
void RedisLink::flush(Loop& loop) {
    if (writer_.empty() || handle_.empty() || state_ == State::connecting) return;
    std::string_view bytes = writer_.bytes();
    switch (
        loop.send_stream(handle_, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()})) {
        case ws::SendResult::queued:
            writer_.clear();
            return;
        case ws::SendResult::over_cap:
        case ws::SendResult::busy:
            return;  // kept; on_drained sends it
        case ws::SendResult::gone:
            close(loop, "connection gone");
            return;
    }
}

template <class Loop>
void RedisLink::on_connected(Loop& loop, ws::ConnectionHandle h) {
    if (!owns(h)) return;
    state_ = State::handshaking;
    reader_.reset();
    queue_handshake();
    flush(loop);
}

template <class Loop>
size_t RedisLink::on_data(Loop& loop, ws::ConnectionHandle h, std::span<uint8_t> bytes) {
    if (!owns(h)) return bytes.size();
    if (!reader_.feed({reinterpret_cast<const char*>(bytes.data()), bytes.size()})) {
        close(loop, reader_.what());
        return bytes.size();
    }
    for (;;) {
        switch (reader_.next()) {
            case RespReader::Result::need_more:
                flush(loop);  // commands the replies' callbacks queued
                return bytes.size();
            case RespReader::Result::failed:
                close(loop, reader_.what());
                return bytes.size();
            case RespReader::Result::reply:
                if (!dispatch(reader_.root())) {
                    close(loop, last_error_);
                    return bytes.size();
                }
                if (!owns(h)) return bytes.size();  // a callback stopped the link
                break;
        }
    }
}

template <class Loop>
void RedisLink::on_drained(Loop& loop, ws::ConnectionHandle h) {
    if (owns(h)) flush(loop);
}

template <class Loop>
void RedisLink::on_end(Loop&, ws::ConnectionHandle h, int error) {
    if (!owns(h)) return;
    handle_ = {};
    if (error == -ESHUTDOWN) stopped_ = true;
    lost(error == 0 ? "closed by the server" : std::strerror(-error), now_ms_);
}

template <class Loop>
void RedisLink::stop(Loop& loop) {
    stopped_ = true;
    ws::ConnectionHandle h = handle_;
    handle_ = {};
    if (!h.empty()) loop.finish_stream(h);
    lost("stopped", now_ms_);
}

}  // namespace wsgate::broker
