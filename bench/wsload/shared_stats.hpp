#pragma once
// What wsload's worker processes publish and the parent reads: one block of
// MAP_SHARED memory made before fork(). Each worker writes only its own
// WorkerStats; the parent writes only the phase. No locks: relaxed atomics and a
// single writer per field.

#include <array>
#include <atomic>
#include <cstdint>

#include "histogram.hpp"

namespace wsgate::bench {

// The run's phases, advanced only by the parent.
enum class Phase : int {
    kBringUp = 0,  // open and handshake every connection; no messages yet
    kWarmup = 1,   // load runs, nothing is recorded
    kMeasure = 2,  // load runs and is recorded
    kStop = 3,     // no new messages; close every connection properly, then exit
};

enum class ErrorKind : int {
    kConnect,              // connect() failed or was refused
    kHandshakeStatus,      // answer was not "101"
    kHandshakeAccept,      // Sec-WebSocket-Accept did not match the key (RFC 6455 §4.2.2)
    kHandshakeHeaders,     // missing Upgrade/Connection or malformed header block
    kProtocol,             // malformed frame from the server
    kDataMismatch,         // an echoed byte, length or opcode differed from what was sent
    kUnexpectedClose,      // server sent close or closed TCP during the run
    kRecv,                 // recv error
    kSend,                 // send error
    kTimeout,              // handshake not finished in time
    kCloseTimeout,         // closing handshake not finished in time (run already over)
    kHandshakeExtensions,  // Sec-WebSocket-Extensions answer invalid or not offered (RFC 7692 §7)
    kInflate,              // a compressed echo did not inflate (RFC 7692 §8.2)
    kServerError,          // pubsub: an error reply, or an unsubscribe/disconnect push
    kTls,                  // TLS handshake (certificate, version, alert) or record failure
    kCount
};
inline constexpr const char* kErrorNames[] = {"connect",
                                              "handshake_status",
                                              "handshake_accept",
                                              "handshake_headers",
                                              "protocol",
                                              "data_mismatch",
                                              "unexpected_close",
                                              "recv",
                                              "send",
                                              "timeout",
                                              "close_timeout",
                                              "handshake_extensions",
                                              "inflate",
                                              "server_error",
                                              "tls"};
static_assert(std::size(kErrorNames) == static_cast<std::size_t>(ErrorKind::kCount));

struct WorkerStats {
    std::atomic<std::uint64_t> assigned{0};        // connections (or slots) this worker owns
    std::atomic<std::uint64_t> connections_up{0};  // currently open after a good handshake
    std::atomic<std::uint64_t> peak_up{0};
    std::atomic<std::uint64_t> bringup_finished{0};  // connections that came up or failed
    std::atomic<std::uint64_t> messages_all{0};      // verified echoes, every phase
    std::atomic<std::uint64_t> messages{0};          // verified echoes while measuring
    std::atomic<std::uint64_t> payload_bytes{0};     // their payload bytes
    // While measuring, per verified echo: payload bytes of its data frames as
    // they went over the wire each way (compressed or not; headers excluded).
    std::atomic<std::uint64_t> sent_wire_bytes{0};
    std::atomic<std::uint64_t> recv_wire_bytes{0};
    std::atomic<std::uint64_t> sent_compressed{0};  // messages sent with RSV1
    std::atomic<std::uint64_t> recv_compressed{0};  // echoes that came back with RSV1
    std::atomic<std::uint64_t> deflate_up{0};  // connections that negotiated permessage-deflate
    std::atomic<std::uint64_t> handshakes{0};  // connect mode: full cycles while measuring
    // TLS: handshakes finished (connect mode: while measuring), full and resumed, and their
    // time from TCP connected to handshake done (summed, for the mean).
    std::atomic<std::uint64_t> tls_full{0};
    std::atomic<std::uint64_t> tls_resumed{0};
    std::atomic<std::uint64_t> tls_handshake_ns{0};
    std::atomic<std::uint64_t> pings_sent{0};
    std::atomic<std::uint64_t> pongs_received{0};
    std::atomic<std::uint64_t> server_pings{0};
    std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(ErrorKind::kCount)> errors{};
    // pubsub: publications answered (every phase / while measuring), refused,
    // and not sent because the open-loop publisher was behind (schedule slips);
    // deliveries are `messages`, their publish->delivery latency `latency`.
    std::atomic<std::uint64_t> publications_all{0};
    std::atomic<std::uint64_t> publications{0};
    std::atomic<std::uint64_t> publish_errors{0};
    std::atomic<std::uint64_t> publish_missed{0};
    std::atomic<std::uint64_t> subscriptions_up{0};
    // Per subscriber and publisher stream, over the whole run (SequenceTracker),
    // and the hub's offsets (OffsetTracker): all must stay 0.
    std::atomic<std::uint64_t> lost{0};
    std::atomic<std::uint64_t> duplicates{0};
    std::atomic<std::uint64_t> reordered{0};
    std::atomic<std::uint64_t> offset_errors{0};
    std::atomic<std::uint64_t> offsets_checked{0};  // publications that carried an offset
    std::atomic<std::uint64_t> cpu_measure_ns{0};  // worker CPU (user+sys) over the measured window
    std::atomic<int> exited{0};
    Histogram latency_all;  // every phase: the progress line's p99
    Histogram latency;      // measured phase only: the report
};

struct SharedControl {
    std::atomic<int> phase{static_cast<int>(Phase::kBringUp)};
    // pubsub: publishers that stopped and had every publication answered; once
    // all have, subscribers compare what they got with PubsubShared::published.
    std::atomic<std::uint32_t> publishers_done{0};
};

// pubsub, after the WorkerStats in the shared block: the last sequence number
// publisher p used on channel k, at published[p * channels + k]; and the
// deliveries of publisher p's publications that worker w's subscribers got, at
// delivered[w * publishers + p] (one writer per row): a closed-loop publisher
// sends its next publication only once the earlier ones have reached every
// subscriber, so the load measures the fan-out, not a queue growing in the server.
struct PubsubShared {
    std::atomic<std::uint64_t>* published = nullptr;
    std::atomic<std::uint64_t>* delivered = nullptr;
    std::uint32_t publishers = 0;
    std::uint32_t channels = 0;
    std::uint32_t workers = 0;
};

inline void add_relaxed(std::atomic<std::uint64_t>& c, std::uint64_t by) {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}
inline void sub_relaxed(std::atomic<std::uint64_t>& c, std::uint64_t by) {
    c.store(c.load(std::memory_order_relaxed) - by, std::memory_order_relaxed);
}
// One more connection up, and the peak of those up at once.
inline void count_up(WorkerStats& stats) {
    add_relaxed(stats.connections_up, 1);
    const auto up = stats.connections_up.load(std::memory_order_relaxed);
    if (up > stats.peak_up.load(std::memory_order_relaxed))
        stats.peak_up.store(up, std::memory_order_relaxed);
}

}  // namespace wsgate::bench
