// What every per-core server loop needs to know (from start-up, and from each
// reload: ws/settings_update.hpp), and the little state the loops of one
// process share.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "io/backend_options.hpp"
#include "proto/deflate_negotiation.hpp"
#include "ws/edge_limits.hpp"

namespace wsgate::tls {
class TlsServerContext;
}

namespace wsgate::ws {

inline constexpr uint32_t kTickMs = 100;  // timer resolution

class PeerAdmission;

struct LoopShared {
    std::atomic<uint32_t> connections{0};  // WebSocket/HTTP connections counted against the limit
    std::atomic<uint32_t> handshakes{0};   // of those, still reading a request head
    // Per-address connection limits (ws/peer_admission.hpp); nullptr: none.
    PeerAdmission* peers = nullptr;
};

struct LoopSettings {
    // Which settings snapshot this is: 1 at start-up, one more per reload.
    uint64_t generation = 1;
    io::BackendOptions backend;
    uint64_t max_message_bytes = 16 * 1024 * 1024;
    uint32_t max_connections = 100000;
    // Outbound streams (ws/stream_application.hpp) a loop may hold besides
    // its accepted connections; they take slots but not max_connections.
    uint32_t max_outbound = 0;
    // Handshakes in progress (connections reading a request head, counted in
    // max_connections too), per process. At the limit, or at max_connections,
    // a new connection takes the place of this loop's oldest handshake.
    uint32_t max_handshakes = 25000;
    // Per client address (ws/peer_key.hpp) and per loop; 0: no cap. More get 429.
    uint32_t max_handshakes_per_peer = 0;
    uint32_t handshake_timeout_ticks = 100;
    // Once more than half of max_handshakes are in progress, handshakes older
    // than this are dropped (408), oldest first.
    uint32_t busy_handshake_timeout_ticks = 20;
    uint32_t idle_timeout_ticks = 600;
    // A plain request the app answers later (HttpAnswer::later) and has not
    // answered within this long gets 504 from the loop, then FIN.
    uint32_t http_response_timeout_ticks = 100;
    uint32_t close_timeout_ticks = 50;
    // From shutdown (SIGTERM) on, established connections go on this long
    // before they are closed (1001); 0: closed at once.
    uint32_t drain_timeout_ticks = 0;
    // Above this many queued outgoing bytes a connection stops being read;
    // reading resumes when the queue is back under half of it.
    size_t max_queued_bytes = 1024 * 1024;
    // Largest plain HTTP request body (Content-Length) accepted; larger: 413.
    uint64_t max_request_bytes = 1024 * 1024;
    // Echo pieces of at least this many bytes are sent from the receive
    // buffer without a copy (io_uring only); SIZE_MAX: always copy.
    size_t zero_copy_min_bytes = SIZE_MAX;
    bool trace = false;
    bool io_stats = false;  // print the loop's io::LoopCounters when it ends
    // A loop whose connections and queued output fell to half of their peak
    // frees its caches this long after (MemoryReleaseTimer) and then calls
    // release_memory (on its own thread) to give free pages back to the OS;
    // release_memory calls free_caches(context) itself, at the moment freed
    // memory goes straight back (see gateway/allocator.hpp).
    uint32_t memory_release_delay_ticks = 50;
    void (*release_memory)(void (*free_caches)(void* context), void* context) = nullptr;
    proto::DeflateConfig deflate;  // permessage-deflate (RFC 7692); off unless enabled
    // zlib streams this loop's connections may hold at once (LoopCompression); 0: no budget.
    uint64_t deflate_max_streams = 0;
    // Inflate work (inflated bytes plus window copies) one loop turn may
    // spend on compressed input; a connection that runs it out yields, its
    // remaining input parked until the next turn, so a flood of bombs cannot
    // keep the loop from its other connections.
    uint64_t inflate_work_per_turn = 256 * 1024;
    EdgeLimits edge;  // Origin allow-lists, head size, message and byte rates
    // TLS termination (tls/): the process's server context (nullptr: no TLS
    // listener), and which of init's listeners speak TLS.
    const tls::TlsServerContext* tls = nullptr;
    std::vector<bool> tls_listeners;
};

}  // namespace wsgate::ws
