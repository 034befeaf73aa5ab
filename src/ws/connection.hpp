// One client connection's record, taken from the loop's SlotPool. Fixed
// size; what only some connections need (a request cut across receive
// buffers, queued output) lives outside it and only while needed.
#pragma once

#include <cstdint>
#include <memory>

#include "io/out_queue.hpp"
#include "io/socket_state.hpp"
#include "proto/frame_decoder.hpp"
#include "proto/opcode.hpp"
#include "ws/compression_state.hpp"

namespace wsgate::ws {

// A request head cut across receive buffers is collected here (allocated
// only for that case, freed once the request is complete). Heads larger than
// kHandshakeBufferBytes are refused with 431. A plain request whose
// Content-Length body did not arrive with its head keeps its head here
// (head_len > 0) and its body in `body`, exactly the announced size
// (bounded by --max-request-bytes).
inline constexpr size_t kHandshakeBufferBytes = 8192;
struct HandshakeBuffer {
    size_t len = 0;
    char data[kHandshakeBufferBytes];
    size_t head_len = 0;  // > 0: the head is data[0, head_len) and a body is being collected
    std::unique_ptr<char[]> body;
    size_t body_len = 0;   // announced by Content-Length
    size_t body_have = 0;  // received so far
};

enum class ConnState : uint8_t {
    http,        // reading request heads (plain HTTP keep-alive, or before the upgrade)
    responding,  // a plain request waits for the app's deferred answer (HttpAnswer::later)
    open,        // WebSocket open
    closing,     // our close frame is queued/sent; waiting for the peer's close
    lingering,   // output done or being drained, then FIN; waiting for the peer's FIN
    connecting,  // an outbound stream whose TCP connect is in progress
    stream,      // bytes relayed by the app unparsed (ws/stream_application.hpp)
};

struct Connection {
    explicit Connection(const proto::FrameDecoderConfig& config) : decoder(config) {}

    io::SocketState sock;
    io::OutQueue out;
    HandshakeBuffer* handshake = nullptr;
    CompressionSlot compression;  // permessage-deflate: see ws/compression_state.hpp
    proto::FrameDecoder decoder;
    // One word the application keeps per connection (a pointer or an index
    // of its own); the loop never reads it. Zero when the connection opens.
    uint64_t app_state = 0;
    uint32_t last_rx_tick = 0;
    ConnState state = ConnState::http;
    bool out_in_message = false;  // an outgoing fragmented message is unfinished
    bool counted = false;         // counted in LoopShared::connections
    bool close_sent = false;
    bool fin_after_drain = false;  // send FIN once the output queue is empty
    bool input_parked = false;     // received input waits in the loop's ParkedInput
    bool app_opened = false;       // the app got on_open, so it gets on_close
    // One byte of flags (the record's size budget).
    bool ping_sent : 1 = false;     // idle ping sent, no byte received since
    bool served : 1 = false;        // a plain HTTP request was answered (keep-alive)
    bool peer_eof : 1 = false;      // the peer sent FIN; close once our output is out
    bool stream : 1 = false;        // a byte stream (outbound, or a relayed upgrade)
    bool drain_wanted : 1 = false;  // a relay send found the queue over the cap; tell the app
    uint8_t listener : 3 = 0;       // where it was accepted (LoopMetrics::listener_slot)
    bool relay_paused : 1 = false;  // not read: the app's relay target is over its cap
    uint16_t close_code = 0;        // the peer's close code, else ours (0: none yet)
};

// The idle cost of a connection in this process (the kernel's socket is
// extra): this record, plus 8 bytes of SlotPool bookkeeping and a 16-byte
// TimerWheel node, must stay within issue 4's 256 bytes. Measured as the RSS
// slope between 10,000 and 100,000 idle connections: see bench/README.md.
inline constexpr size_t kIdleBudgetBytes = 256;
inline constexpr size_t kSlotAndTimerBytes = 8 + 16;
static_assert(sizeof(Connection) <= 152, "Connection record grew: check the idle memory budget");
static_assert(sizeof(Connection) + kSlotAndTimerBytes <= kIdleBudgetBytes);

}  // namespace wsgate::ws
