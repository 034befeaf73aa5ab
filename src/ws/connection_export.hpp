// Live upgrade: what a loop hands over of an open WebSocket connection to
// the process that replaces this one, and what that process's loops take
// back (docs/live-upgrade.md describes the protocol that carries it).
//
// A connection moves only at a message boundary with nothing in flight:
// no frame half read (the decoder between messages, no header cut across
// reads, nothing parked), no message half sent, no queued output, no
// receive or send in flight. Its descriptor then carries everything the
// kernel holds (unread input, unacknowledged output), and the record below
// the little the loop keeps: the permessage-deflate agreement (exact with
// no context takeover on both sides: no zlib window to move), the idle
// timer and which listener accepted it.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

namespace wsgate::ws {

// One connection's state, fixed size and layout (it crosses processes
// that may be built from different sources: each field has a fixed width,
// the record a version in its protocol header).
struct ExportedConnection {
    static constexpr uint8_t kPingSent = 1;          // our idle ping is unanswered
    static constexpr uint8_t kDeflate = 2;           // permessage-deflate negotiated
    static constexpr uint8_t kServerNoTakeover = 4;  // RFC 7692 §7.1.1.1
    static constexpr uint8_t kClientNoTakeover = 8;  // RFC 7692 §7.1.1.2
    uint32_t idle_ms = 0;                            // since the last byte received from the peer
    uint8_t flags = 0;                               // the k* bits above
    uint8_t listener = 0;                            // LoopMetrics::listener_slot of its listener
    uint8_t server_window_bits = 0;                  // RFC 7692 §7.1.2, when kDeflate
    uint8_t client_window_bits = 0;
    uint32_t source_loop = 0;  // the loop that held it (for logs)
    uint32_t reserved = 0;
};
static_assert(sizeof(ExportedConnection) == 16);

// Where the loops of the old process send what they hand over. Shared by
// every loop (send is serialised); `send` writes one record of up to
// kMaxBatch connections and their descriptors, and answers false once the
// channel is broken (the new process is gone): the loop then closes what
// it still holds with 1001, as at shutdown.
struct HandoverChannel {
    // SCM_MAX_FD (include/net/scm.h): descriptors one message may carry.
    static constexpr size_t kMaxBatch = 253;

    bool (*send_batch)(void* context, std::span<const ExportedConnection> records,
                       std::span<const int> fds) = nullptr;
    void* context = nullptr;
    int64_t timeout_ms = 10000;  // --upgrade-timeout: then what is left is closed 1001
    std::atomic<uint64_t> handed_over{0};
    std::atomic<uint64_t> closed{0};  // not movable (context takeover) or late: closed 1001
    std::atomic<bool> broken{false};
    std::mutex mutex;  // one sender at a time

    bool send(std::span<const ExportedConnection> records, std::span<const int> fds) {
        if (broken.load()) return false;
        std::lock_guard lock(mutex);
        if (!send_batch(context, records, fds)) {
            broken.store(true);
            return false;
        }
        handed_over.fetch_add(records.size());
        return true;
    }
};

// Connections for one loop of the new process to take (the message's
// pointer; the loop deletes it). Descriptors it cannot take are closed.
struct AdoptBatch {
    std::vector<ExportedConnection> records;
    std::vector<int> fds;
    std::atomic<uint64_t>* adopted = nullptr;  // counted up as they are taken
};

}  // namespace wsgate::ws
