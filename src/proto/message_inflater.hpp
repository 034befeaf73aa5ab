// Decompresses incoming permessage-deflate messages (RFC 7692 §7.2.2),
// streaming: compressed chunks go in as the frame decoder delivers them (in
// place, many per message), plain bytes come out into caller-provided space,
// and a message that inflates past the size limit is stopped as soon as it
// crosses it — never inflated whole first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "proto/zstream.hpp"

namespace wsgate::proto {

struct InflaterSettings {
    // The client's agreed window (client_max_window_bits, 8..15). zlib runs
    // with at least kMinZlibWindowBits: a larger window decodes every stream a
    // smaller one does, and zlib-based clients asked for 8 send 9-bit streams.
    uint8_t window_bits = kMaxWindowBits;
    // client_no_context_takeover (RFC 7692 §7.1.1.2): every message starts
    // with an empty window, so the stream is borrowed from this thread's pool
    // for one message and returned after it.
    bool no_context_takeover = false;
    uint64_t max_message_bytes = 16 * 1024 * 1024;  // inflated size limit per message
};

enum class InflateStatus : uint8_t {
    ok,            // progress made; continue (more input, or call finish() again)
    done,          // finish(): the message is complete, all its bytes were produced
    invalid_data,  // not valid DEFLATE data: fail the connection with 1007
    too_big,       // inflated size exceeds max_message_bytes: fail with 1009
    error,         // zlib could not allocate: fail with 1011
};

struct InflateResult {
    size_t consumed = 0;  // bytes of `in` used
    size_t produced = 0;  // bytes written to the front of `out`
    InflateStatus status = InflateStatus::ok;
};

// Error codes (RFC 6455 §7.4.1): corrupt compressed data is payload data that
// is not consistent with the type of the message, 1007 (RFC 7692 §8.2 asks
// only to "Fail the WebSocket Connection"; 1007 is what Autobahn, ws and
// python-websockets use). An inflated size over the limit is 1009.
//
// Use per connection, for a message whose first frame had RSV1 set:
//   for each compressed payload chunk (on_frame_payload):
//       while (!chunk.empty()) { r = inf.inflate(chunk, out); deliver(out[0, r.produced));
//                                if (r.status != InflateStatus::ok) fail(r.status);
//                                chunk = chunk.subspan(r.consumed); }
//   at the message's end (on_frame_end(true)):
//       do { r = inf.finish(out); deliver(out[0, r.produced)); } while (r.status == ok);
//       if (r.status != done) fail(r.status);
// produced may be 0 on any call; each call makes progress while out is not
// empty. Holds no zlib memory until the first compressed message (lazy), and
// none between messages with no_context_takeover.
class MessageInflater {
  public:
    explicit MessageInflater(const InflaterSettings& settings = {});
    ~MessageInflater();
    MessageInflater(MessageInflater&& other) noexcept;
    MessageInflater& operator=(MessageInflater&& other) noexcept;
    MessageInflater(const MessageInflater&) = delete;
    MessageInflater& operator=(const MessageInflater&) = delete;

    // Inflates from `in` into `out` until `in` is used up or `out` is full.
    // Starts a message if none is open. After invalid_data/too_big/error the
    // inflater is unusable until release().
    InflateResult inflate(std::span<const uint8_t> in, std::span<uint8_t> out);
    // Ends the message: feeds the 00 00 ff ff that the sender removed
    // (RFC 7692 §7.2.2) and drains the output. Call with fresh `out` space
    // until it returns done (or an error). A message whose data, with the
    // trailer, does not end on a DEFLATE block boundary is invalid_data.
    InflateResult finish(std::span<uint8_t> out);

    bool in_message() const { return phase_ == Phase::inflating; }
    uint64_t message_bytes() const { return message_bytes_; }  // inflated so far
    // zlib bytes this inflater holds now (0 before the first message, and
    // between messages with no_context_takeover).
    size_t memory_bytes() const;
    // Drops all zlib state (connection closing, or after an error).
    void release();
    const InflaterSettings& settings() const { return settings_; }

  private:
    enum class Phase : uint8_t { idle, inflating, failed };

    bool begin_message();
    void end_message();
    // Runs zlib over `in`; restarts the stream after a BFINAL block.
    InflateResult run(std::span<const uint8_t> in, std::span<uint8_t> out);
    bool restart_after_final_block();

    ZStream* stream_ = nullptr;
    uint64_t message_bytes_ = 0;
    InflaterSettings settings_;
    Phase phase_ = Phase::idle;
    uint8_t trailer_fed_ = 0;        // bytes of the 00 00 ff ff trailer zlib has taken
    bool message_has_data_ = false;  // any compressed byte seen in this message
    bool fresh_stream_ = false;      // a BFINAL block ended the stream, nothing since
    bool at_boundary_ = false;       // finish(): the last call that made progress ended
                                     // at a byte-aligned block boundary
};

}  // namespace wsgate::proto
