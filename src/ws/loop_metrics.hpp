// What one server loop has done and holds now, for GET /metrics. Each loop
// owns one LoopMetrics and is its only writer; a scraper on another thread
// reads it and sums the loops. Writes are relaxed load + store (a plain
// `mov`/`add`/`mov` on x86-64, no locked instruction, no shared cache line
// written by two threads), so counting costs the hot path next to nothing;
// a reader sees each value whole, possibly a moment old.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ctime>

#include "proto/opcode.hpp"

namespace wsgate::ws {

// A value with one writer thread and any number of reader threads. Always
// inlined: an out-of-line call costs more than the count (GCC left add()
// out of line in the frame sink, seen in callgrind).
template <class T>
class OwnedValue {
  public:
    [[gnu::always_inline]] void add(T n = 1) {
        v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    [[gnu::always_inline]] void sub(T n = 1) {
        v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
    }
    void set(T n) { v_.store(n, std::memory_order_relaxed); }
    T get() const { return v_.load(std::memory_order_relaxed); }

  private:
    std::atomic<T> v_{0};
};
using OwnedCounter = OwnedValue<uint64_t>;
using OwnedGauge = OwnedValue<int64_t>;

// Where a connection is in its life, as an operator reads it:
//  handshaking: reading a request head (before its upgrade, or between the
//               requests of a keep-alive HTTP connection: both count as
//               handshakes for admission, see server_loop.hpp)
//  http:        a plain HTTP request waiting for the application's answer
//  websocket:   WebSocket open
//  closing:     closing handshake, or draining its last output before FIN
enum class ConnPhase : uint8_t { handshaking, http, websocket, closing };
inline constexpr size_t kConnPhases = 4;
inline constexpr std::array<const char*, kConnPhases> kConnPhaseNames = {"handshaking", "http",
                                                                         "websocket", "closing"};

// Messages counted by opcode (RFC 6455 §5.2): data messages by their
// first frame's (text, binary), control frames each by its own.
enum class MessageKind : uint8_t { text, binary, ping, pong, close };
inline constexpr size_t kMessageKinds = 5;
inline constexpr std::array<const char*, kMessageKinds> kMessageKindNames = {
    "text", "binary", "ping", "pong", "close"};

// By the opcode's 4 bits: one load, no branch. Reserved opcodes never reach
// a counter (the decoder fails them with 1002; the server sends none).
inline constexpr std::array<MessageKind, 16> kMessageKindOfOpcode = [] {
    std::array<MessageKind, 16> kinds{};
    kinds.fill(MessageKind::binary);
    kinds[static_cast<size_t>(proto::Opcode::text)] = MessageKind::text;
    kinds[static_cast<size_t>(proto::Opcode::ping)] = MessageKind::ping;
    kinds[static_cast<size_t>(proto::Opcode::pong)] = MessageKind::pong;
    kinds[static_cast<size_t>(proto::Opcode::close)] = MessageKind::close;
    return kinds;
}();
inline MessageKind message_kind(proto::Opcode opcode) {
    return kMessageKindOfOpcode[static_cast<size_t>(opcode) & 0x0F];
}

struct MessageCounts {
    std::array<OwnedCounter, kMessageKinds> messages;
    std::array<OwnedCounter, kMessageKinds>
        bytes;  // payload bytes (as on the wire, compressed or not)

    void count_message(MessageKind kind) { messages[static_cast<size_t>(kind)].add(); }
    void count_bytes(MessageKind kind, uint64_t n) { bytes[static_cast<size_t>(kind)].add(n); }
};

// Close codes counted by value for a bounded set: RFC 6455 §7.4.1 and the
// IANA registry (1000-1015), and the codes the pub/sub hub sends
// (Centrifugo's 3000-3013 and 3500-3509); any other code is "other".
class CloseCodeCounts {
  public:
    static constexpr size_t kSlots = 16 + 14 + 10 + 1;
    static constexpr size_t kOther = kSlots - 1;

    static size_t slot(uint16_t code) {
        if (code >= 1000 && code <= 1015) return code - 1000;
        if (code >= 3000 && code <= 3013) return 16 + (code - 3000);
        if (code >= 3500 && code <= 3509) return 30 + (code - 3500);
        return kOther;
    }
    // The code a slot stands for (0 for kOther).
    static uint16_t code_of(size_t slot) {
        if (slot < 16) return static_cast<uint16_t>(1000 + slot);
        if (slot < 30) return static_cast<uint16_t>(3000 + slot - 16);
        if (slot < 40) return static_cast<uint16_t>(3500 + slot - 30);
        return 0;
    }

    void count(uint16_t code) { counts_[slot(code)].add(); }
    uint64_t get(size_t slot) const { return counts_[slot].get(); }

  private:
    std::array<OwnedCounter, kSlots> counts_;
};

// Loop turn durations: from the end of the wait for events to the end of
// the turn's work (completions, parked input, timers, the app's tick), so
// it is the time an event arriving meanwhile waits for the loop (loop lag),
// not counting idle sleep. Buckets in microseconds; observations go to the
// first bucket whose bound they do not exceed (Prometheus `le`), the last
// slot is +Inf.
class TurnHistogram {
  public:
    static constexpr std::array<uint64_t, 13> kBoundsUs = {
        50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};
    static constexpr size_t kBuckets = kBoundsUs.size() + 1;

    void observe_ns(uint64_t ns) {
        uint64_t us = ns / 1000;
        size_t i = 0;
        while (i < kBoundsUs.size() && us > kBoundsUs[i])
            ++i;
        buckets_[i].add();
        sum_ns_.add(ns);
    }
    uint64_t bucket(size_t i) const { return buckets_[i].get(); }
    uint64_t sum_ns() const { return sum_ns_.get(); }

  private:
    std::array<OwnedCounter, kBuckets> buckets_;
    OwnedCounter sum_ns_;
};

// Connections by where they came from (a 3-bit index in the Connection
// record): listening sockets 0..5 by their index, later ones together in
// kOtherListenersSlot, outbound connections (ServerLoop::connect) in
// kOutboundSlot.
struct ListenerCounts {
    OwnedCounter accepted;  // or opened, for outbound connections
    OwnedGauge open;

    void opened() {
        accepted.add();
        open.add();
    }
};

// Refusals and closes by the edge limit that caused them (ws/edge_limits.hpp,
// ws/peer_admission.hpp): the status or close code alone does not say which.
enum class EdgeLimit : uint8_t {
    origin,                // 403: Origin not allowed
    peer_connections,      // 429: open connections per client address
    peer_connection_rate,  // 429: new connections per second per client address
    message_rate,          // 1008: messages per second on a connection
    byte_rate,             // 1008: payload bytes per second on a connection
};
inline constexpr size_t kEdgeLimits = 5;
inline constexpr std::array<const char*, kEdgeLimits> kEdgeLimitNames = {
    "origin", "ip_connections", "ip_connection_rate", "message_rate", "byte_rate"};

struct LoopMetrics {
    static constexpr size_t kListenerSlots = 8;
    static constexpr uint8_t kOtherListenersSlot = 6;
    static constexpr uint8_t kOutboundSlot = 7;
    static uint8_t listener_slot(uint32_t listener) {
        return listener < kOtherListenersSlot ? static_cast<uint8_t>(listener)
                                              : kOtherListenersSlot;
    }

    const char* backend = "";  // io_uring or epoll, set once by the loop

    OwnedCounter accepted;
    std::array<OwnedGauge, kConnPhases> connections;
    std::array<ListenerCounts, kListenerSlots> by_listener;
    // Request heads the loop answered itself: 101 (upgraded) and refusals by
    // HTTP status (every answer that goes through the loop's refusal path).
    OwnedCounter upgrades;
    static constexpr int kFirstRefusalStatus = 400;
    static constexpr size_t kRefusalStatuses = 200;  // 400..599
    std::array<OwnedCounter, kRefusalStatuses> refusals;

    MessageCounts in;
    MessageCounts out;
    CloseCodeCounts close_received;
    CloseCodeCounts close_sent;
    std::array<OwnedCounter, kEdgeLimits> edge_refusals;
    void limited(EdgeLimit limit) { edge_refusals[static_cast<size_t>(limit)].add(); }
    OwnedCounter backpressure_pauses;  // reading paused: output over --max-queued-bytes
    // TLS listeners: handshakes completed (full or resumed), of those
    // resumed from a ticket, and connections closed for a TLS failure.
    OwnedCounter tls_handshakes;
    OwnedCounter tls_resumed;
    OwnedCounter tls_failures;
    // Kernel TLS: sessions handed to the kernel, and sessions prepared for it
    // that stayed in user space (refused, or never at a record boundary).
    OwnedCounter tls_kernel;
    OwnedCounter tls_kernel_refused;
    TurnHistogram turns;

    // Published at the end of every turn (the loop's own structures are not
    // read from other threads): exact whenever the loop is waiting.
    OwnedGauge parked_input_bytes;
    OwnedGauge held_receive_buffers;
    OwnedGauge lent_receive_buffers;
    // The settings snapshot the loop runs (LoopSettings::generation): after a
    // reload, every loop shows the new one once it has adopted it.
    OwnedGauge settings_generation;

    void refused(int status) {
        if (status < kFirstRefusalStatus ||
            status >= kFirstRefusalStatus + static_cast<int>(kRefusalStatuses)) {
            status = kFirstRefusalStatus + static_cast<int>(kRefusalStatuses) - 1;
        }
        refusals[static_cast<size_t>(status - kFirstRefusalStatus)].add();
    }

    void change_phase(ConnPhase from, ConnPhase to) {
        if (from == to) return;
        connections[static_cast<size_t>(from)].sub();
        connections[static_cast<size_t>(to)].add();
    }

    // Returns the time read, which the loop uses as its clock for the turn.
    const timespec& turn_begun() {
        clock_gettime(CLOCK_MONOTONIC, &turn_start_);
        return turn_start_;
    }
    void turn_ended() {
        timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        int64_t ns =
            (t.tv_sec - turn_start_.tv_sec) * 1000000000LL + (t.tv_nsec - turn_start_.tv_nsec);
        turns.observe_ns(ns < 0 ? 0 : static_cast<uint64_t>(ns));
    }

  private:
    timespec turn_start_{};  // the loop's own
};

}  // namespace wsgate::ws
