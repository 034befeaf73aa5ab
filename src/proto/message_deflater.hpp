// Compresses outgoing WebSocket messages for permessage-deflate
// (RFC 7692 §7.2.1), streaming: the message goes in as chunks, compressed
// bytes come out into caller-provided space, so the connection can send them
// as frames while the message is still being compressed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "proto/zstream.hpp"

namespace wsgate::proto {

struct DeflaterSettings {
    uint8_t window_bits = kMaxWindowBits;  // kMinZlibWindowBits..15 (agreed server window)
    uint8_t mem_level = kDefaultMemLevel;  // 1..9: lower costs less memory, compresses worse
    int8_t level = kDefaultDeflateLevel;   // 0..9
    // server_no_context_takeover (RFC 7692 §7.1.1.1): every message starts
    // with an empty window, so the stream is borrowed from this thread's pool
    // for one message and returned after it.
    bool no_context_takeover = false;
};

// Every output span given to compress()/finish() must have at least this
// many bytes: the last 4 bytes produced are held back (they may be the
// 00 00 ff ff that §7.2.1 strips) and zlib needs room to finish its flush
// marker in one call.
inline constexpr size_t kMinDeflateOutput = 16;

enum class DeflateStatus : uint8_t {
    ok,     // progress made; continue (more input, or call finish() again)
    done,   // finish(): the message is complete, all its bytes were produced
    error,  // zlib could not allocate or failed: fail the connection (1011)
};

struct DeflateResult {
    size_t consumed = 0;  // bytes of `in` used
    size_t produced = 0;  // bytes written to the front of `out`
    DeflateStatus status = DeflateStatus::ok;
};

// An upper bound for a message's compressed size (for a caller that wants one
// frame per message and sizes its buffer once).
constexpr size_t deflate_output_bound(size_t message_bytes) {
    // zlib's deflateBound() for non-default settings, plus an empty stored
    // block per flush; never less than the held-back minimum.
    return message_bytes + ((message_bytes + 7) >> 3) + ((message_bytes + 63) >> 6) + 5 +
           kMinDeflateOutput;
}

// Use per connection:
//   for each chunk of the message:
//       while (!chunk.empty()) { r = d.compress(chunk, out); send(out[0, r.produced));
//                                chunk = chunk.subspan(r.consumed); }
//   do { r = d.finish(out); send(out[0, r.produced)); } while (r.status == DeflateStatus::ok);
// The first frame carries RSV1 (RFC 7692 §6); produced may be 0 on any call.
// Holds no zlib memory until the first compress()/finish() (lazy), and none
// between messages with no_context_takeover.
class MessageDeflater {
  public:
    explicit MessageDeflater(const DeflaterSettings& settings = {});
    ~MessageDeflater();
    MessageDeflater(MessageDeflater&& other) noexcept;
    MessageDeflater& operator=(MessageDeflater&& other) noexcept;
    MessageDeflater(const MessageDeflater&) = delete;
    MessageDeflater& operator=(const MessageDeflater&) = delete;

    // Compresses from `in` into `out` (out.size() >= kMinDeflateOutput) until
    // `in` is used up or `out` is full. Starts a message if none is open.
    DeflateResult compress(std::span<const uint8_t> in, std::span<uint8_t> out);
    // Ends the message: flushes with Z_SYNC_FLUSH and drops its trailing
    // 00 00 ff ff (RFC 7692 §7.2.1). Call with fresh `out` space
    // (>= kMinDeflateOutput) until it returns done; an empty message
    // compresses to the single byte 00.
    DeflateResult finish(std::span<uint8_t> out);

    bool in_message() const { return phase_ != Phase::idle; }
    // zlib bytes this deflater holds now (0 before the first message, and
    // between messages with no_context_takeover).
    size_t memory_bytes() const;
    // True while a zlib stream is held (from the first compressed message
    // until release() or, with no_context_takeover, the message's end).
    bool holds_stream() const { return stream_ != nullptr; }
    // Drops all zlib state (connection closing, or an abandoned message).
    void release();
    const DeflaterSettings& settings() const { return settings_; }

  private:
    enum class Phase : uint8_t { idle, compressing, block_flush, marker_flush };

    bool begin_message();
    void end_message();

    static constexpr size_t kTrailerBytes = 4;

    ZStream* stream_ = nullptr;
    DeflaterSettings settings_;
    Phase phase_ = Phase::idle;
    uint8_t held_count_ = 0;
    uint8_t held_[kTrailerBytes] = {};
};

}  // namespace wsgate::proto
