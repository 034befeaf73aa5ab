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
// timer and which listener accepted it. An application with state of its
// own per connection (pub/sub subscriptions, a proxy's upstream socket)
// adds it through HandoverApplication: bytes and descriptors that travel
// with the connection and are handed to the new process's application.
// Two connections the application joined (a reverse proxy's client and
// upstream sockets) move as one unit through PairedHandoverApplication:
// both quiet at once, in the same record, to the same loop, with the
// application's state of the pair.
#pragma once

#include <atomic>
#include <concepts>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "ws/connection_handle.hpp"

namespace wsgate::ws {

// One connection's state, fixed size and layout (it crosses processes
// that may be built from different sources: each field has a fixed width,
// the record a version in its protocol header).
struct ExportedConnection {
    static constexpr uint8_t kPingSent = 1;          // our idle ping is unanswered
    static constexpr uint8_t kDeflate = 2;           // permessage-deflate negotiated
    static constexpr uint8_t kServerNoTakeover = 4;  // RFC 7692 §7.1.1.1
    static constexpr uint8_t kClientNoTakeover = 8;  // RFC 7692 §7.1.1.2
    static constexpr uint8_t kStream = 16;          // a byte stream the app relays, not a WebSocket
    static constexpr uint8_t kJoinedWithNext = 32;  // moves with the next record as one unit
    uint32_t idle_ms = 0;                           // since the last byte received from the peer
    uint8_t flags = 0;                              // the k* bits above
    uint8_t listener = 0;                           // LoopMetrics::listener_slot of its listener
    uint8_t server_window_bits = 0;                 // RFC 7692 §7.1.2, when kDeflate
    uint8_t client_window_bits = 0;
    uint32_t source_loop = 0;  // the loop that held it (for logs)
    uint16_t app_bytes = 0;    // the application's state (HandoverApplication) that follows
    uint8_t app_fds = 0;       // descriptors of the application's after the connection's own
    uint8_t reserved = 0;
};
static_assert(sizeof(ExportedConnection) == 16);

// What an application adds to one connection it lets go: bytes in a format
// of its own, and descriptors it holds for the connection (an upstream
// socket). The descriptors are sent as they are (SCM_RIGHTS duplicates
// them); the application closes its own copies in handed_over.
struct AppExport {
    // Bytes and descriptors one connection may add (a connections record
    // is at most 64 KiB, SCM_MAX_FD descriptors): more is not movable.
    static constexpr size_t kMaxBytes = 32 * 1024;
    static constexpr size_t kMaxFds = 8;
    std::vector<uint8_t> bytes;
    std::vector<int> fds;
    void clear() {
        bytes.clear();
        fds.clear();
    }
};

// An application whose connections carry state of their own across a live
// upgrade. Optional: without it a connection moves with its socket alone,
// and one that arrives with application state is closed 1001.
//  - movable: nothing of the connection is in the application's hands now
//    (no answer owed by another loop, nothing half delivered); the loop asks
//    once the connection is quiet and exports it in the same turn.
//  - export_state: appends the connection's state; false: it cannot move
//    (closed 1001, as a connection that never became quiet).
//  - handed_over: the connection lives on in the new process: forget it
//    without a word to the peer (on_close is not called for it).
//  - adopt_state (new process, after on_open): takes the state back; the
//    application owns `fds` whatever it answers; false: closed 1001.
template <class A, class L>
concept HandoverApplication = requires(A& app, L& loop, ConnectionHandle h, AppExport& out,
                                       std::span<const uint8_t> bytes, std::span<const int> fds) {
    { app.movable(loop, h) } -> std::same_as<bool>;
    { app.export_state(loop, h, out) } -> std::same_as<bool>;
    { app.handed_over(loop, h) } -> std::same_as<void>;
    { app.adopt_state(loop, h, bytes, fds) } -> std::same_as<bool>;
};

// What the application says of one of its connections while the loop hands
// over (PairedHandoverApplication::handover_check).
struct HandoverCheck {
    enum class Verdict : uint8_t {
        move,   // moves once quiet
        wait,   // not yet (an upstream handshake in flight): the deadline closes it
        close,  // cannot move: closed now as at shutdown (1001 / FIN)
    };
    Verdict verdict = Verdict::move;
    // The application's own decoding of this connection's input (a relay's
    // upstream decoder) is between messages: the loop may stop reading it.
    bool at_boundary = true;
    // The connection that moves with this one (empty: none), and whether
    // this one is the lead of the two (it carries the pair's state).
    ConnectionHandle partner{};
    bool lead = false;
};

// An application whose connections come in joined pairs (a reverse proxy:
// the client's socket and its upstream's) that a live upgrade moves whole,
// byte streams included. The loop asks each connection's verdict every
// handover turn and sends a pair once both are quiet (no input held,
// nothing queued or in flight, both decoders between messages) and stopped
// reading: the sockets then carry everything the kernel holds, the lead's
// application bytes (ExportedConnection::kJoinedWithNext) the rest.
//  - export_pairing: appends the pair's state (lead h) to out.bytes, at most
//    a kilobyte, as the pair is about to be sent.
//  - pairing_handed_over: sent; the app forgets the pair and closes nothing
//    (both sockets live on in the new process); the loop lets both go
//    without a callback.
//  - adopt_pairing (new process): both connections are open in this loop
//    (app_state 0, not read yet); the app takes them with the lead's state.
//    False: the loop closes both (their peers see the connections end).
template <class A, class L>
concept PairedHandoverApplication = requires(A& app, L& loop, ConnectionHandle h,
                                             ConnectionHandle partner, AppExport& out,
                                             std::span<const uint8_t> state) {
    { app.handover_check(loop, h) } -> std::same_as<HandoverCheck>;
    { app.export_pairing(loop, h, out) } -> std::same_as<void>;
    { app.pairing_handed_over(loop, h) } -> std::same_as<void>;
    { app.adopt_pairing(loop, h, partner, state) } -> std::same_as<bool>;
};

// An application with state of its own per loop that must move too (a
// pub/sub hub's channel streams: publications, epoch, offsets). Optional.
//  - on_handover_begin: the loop hands over from now on (keep what the new
//    process will need, e.g. streams nobody subscribes to here any more).
//  - loop_state_ready: once every loop of the process has let go of its
//    last connection, nothing more can change the state (no request still
//    on its way to this loop); the loop asks each turn until it is.
//  - export_loop_state: the state, sent once, to the new process's loop of
//    the same index (the layout of loops is the same on both sides).
//  - adopt_loop_state (new process): takes it; called exactly once per loop
//    after an upgrade, with empty bytes when the old process sent none (it
//    failed or gave up), so the application can stop waiting for it.
template <class A, class L>
concept HandoverLoopApplication = requires(A& app, L& loop, std::vector<uint8_t>& out,
                                           std::span<const uint8_t> bytes) {
    { app.on_handover_begin(loop) } -> std::same_as<void>;
    { app.loop_state_ready() } -> std::same_as<bool>;
    { app.export_loop_state(loop, out) } -> std::same_as<void>;
    { app.adopt_loop_state(loop, bytes) } -> std::same_as<void>;
};

// Where the loops of the old process send what they hand over. Shared by
// every loop (send is serialised); `send` writes one record of up to
// kMaxBatch descriptors: the connections' records, then their application
// bytes in the same order, and for each connection its socket followed by
// its app_fds. It answers false once the channel is broken (the new process
// is gone): the loop then closes what it still holds with 1001, as at
// shutdown.
struct HandoverChannel {
    // SCM_MAX_FD (include/net/scm.h): descriptors one message may carry.
    static constexpr size_t kMaxBatch = 253;
    // Body bytes of one connections record (records and application bytes):
    // the wire's record limit less its header.
    static constexpr size_t kMaxBatchBytes = 64 * 1024 - 16;

    bool (*send_batch)(void* context, std::span<const ExportedConnection> records,
                       std::span<const uint8_t> app_bytes, std::span<const int> fds) = nullptr;
    // One loop's HandoverLoopApplication state (any size: the sender cuts it
    // into records); false once the channel is broken.
    bool (*send_state)(void* context, uint32_t loop, std::span<const uint8_t> bytes) = nullptr;
    void* context = nullptr;
    uint32_t loops = 1;                    // loops of this process
    std::atomic<uint32_t> loops_empty{0};  // loops that let go of their last connection
    int64_t timeout_ms = 10000;            // --upgrade-timeout: then what is left is closed 1001
    std::atomic<uint64_t> handed_over{0};
    std::atomic<uint64_t> closed{0};  // not movable (context takeover) or late: closed 1001
    std::atomic<bool> broken{false};
    std::mutex mutex;  // one sender at a time

    bool send(std::span<const ExportedConnection> records, std::span<const uint8_t> app_bytes,
              std::span<const int> fds) {
        if (broken.load()) return false;
        std::lock_guard lock(mutex);
        if (!send_batch(context, records, app_bytes, fds)) {
            broken.store(true);
            return false;
        }
        handed_over.fetch_add(records.size());
        return true;
    }

    bool send_loop_state(uint32_t loop, std::span<const uint8_t> bytes) {
        if (broken.load()) return false;
        std::lock_guard lock(mutex);
        if (!send_state(context, loop, bytes)) {
            broken.store(true);
            return false;
        }
        return true;
    }
};

// One loop's application state for the new process's loop of the same
// index (the message's pointer; the loop deletes it). Empty: none came.
struct LoopStateBatch {
    std::vector<uint8_t> bytes;
};

// Connections for one loop of the new process to take (the message's
// pointer; the loop deletes it). Descriptors it cannot take are closed.
// Laid out as on the wire: app_bytes holds each record's app_bytes in turn,
// fds each connection's socket followed by its app_fds.
struct AdoptBatch {
    std::vector<ExportedConnection> records;
    std::vector<uint8_t> app_bytes;
    std::vector<int> fds;
    std::atomic<uint64_t>* adopted = nullptr;  // counted up as they are taken
};

}  // namespace wsgate::ws
