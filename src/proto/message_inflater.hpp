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

// Bounds on the work one message may cost (RFC 7692 §8.2 leaves bombs to the
// implementation). "Work" is inflated bytes plus the window bytes copied when
// a BFINAL block restarts the stream (restart_after_final_block): both are
// server effort paid for by compressed input.
//
// DEFLATE turns at most 258 bytes into a 1-bit code, so zlib streams reach
// ~1032:1 on zeros. Real text and JSON compress 3..30:1, repetitive logs
// rarely past 100:1; 256 keeps ample margin while stopping a bomb after the
// grace instead of at the size limit.
inline constexpr uint32_t kDefaultMaxInflateRatio = 256;
// The ratio is only checked once a message has cost this much work, so
// small, highly compressible messages are never refused for their ratio.
inline constexpr uint64_t kDefaultInflateRatioGraceBytes = 1024 * 1024;
// A well-formed stream produces output at least every few hundred bytes
// (the largest dynamic Huffman block header is under 600 bytes); more
// compressed input than this in a row with no output is padding, e.g.
// empty DEFLATE blocks, each of which costs zlib a block set-up. A run is
// counted from the end of the zlib call that last produced output (zlib
// calls take at most this many bytes), so under twice this passes.
inline constexpr uint32_t kDefaultMaxInputWithoutOutput = 4096;

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
    // Compressed payload limit per message, as sent (the frame decoder
    // checks the same bound from frame headers; the inflater counts what it
    // is given, so it holds on its own).
    uint64_t max_compressed_bytes = 16 * 1024 * 1024;
    // Work may exceed max_ratio x compressed bytes only while it is at most
    // ratio_grace_bytes. 0: no ratio bound.
    uint32_t max_ratio = kDefaultMaxInflateRatio;
    uint64_t ratio_grace_bytes = kDefaultInflateRatioGraceBytes;
    uint32_t max_input_without_output = kDefaultMaxInputWithoutOutput;  // 0: no bound
};

enum class InflateStatus : uint8_t {
    ok,            // progress made; continue (more input, or call finish() again)
    done,          // finish(): the message is complete, all its bytes were produced
    invalid_data,  // not valid DEFLATE data: fail the connection with 1007
    too_big,       // inflated size exceeds max_message_bytes, or compressed size
                   // max_compressed_bytes: fail with 1009
    over_ratio,    // work exceeds max_ratio x compressed bytes past the grace: 1008
    no_output,     // over max_input_without_output compressed bytes in a row
                   // produced nothing (padding): 1008
    error,         // zlib could not allocate: fail with 1011
};

struct InflateResult {
    size_t consumed = 0;  // bytes of `in` used
    size_t produced = 0;  // bytes written to the front of `out`
    size_t work = 0;      // produced plus window bytes copied at stream restarts
    InflateStatus status = InflateStatus::ok;
};

// Error codes (RFC 6455 §7.4.1): corrupt compressed data is payload data that
// is not consistent with the type of the message, 1007 (RFC 7692 §8.2 asks
// only to "Fail the WebSocket Connection"; 1007 is what Autobahn, ws and
// python-websockets use). An inflated size over the limit is 1009. Valid
// DEFLATE that costs too much work for its size (over_ratio, no_output) is
// refused by policy, 1008 (RFC 6455 §7.4.1).
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
// empty, and costs at most out.size() + 2 x window bytes of work per BFINAL
// restart (each bounded by the checks above), so a caller may stop between
// calls to share its time. Holds no zlib memory until the first compressed message (lazy), and
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
    uint64_t message_bytes() const { return tally_.inflated; }  // inflated so far
    uint64_t message_work() const { return tally_.work; }       // work so far
    // True while a zlib stream is held (from the first compressed message,
    // or from reserve_stream(), until release() or, with
    // no_context_takeover, the message's end).
    bool holds_stream() const { return stream_ != nullptr; }
    // Obtains the stream now rather than at the first inflate() call, so a
    // caller that budgets streams can take it when it admits a message.
    // False when zlib cannot allocate.
    bool reserve_stream();
    // zlib bytes this inflater holds now (0 before the first message, and
    // between messages with no_context_takeover).
    size_t memory_bytes() const;
    // Drops all zlib state (connection closing, or after an error).
    void release();
    const InflaterSettings& settings() const { return settings_; }

  private:
    enum class Phase : uint8_t { idle, inflating, failed };

    // What the current message has cost so far.
    struct Tally {
        uint64_t inflated = 0;
        uint64_t compressed = 0;
        uint64_t work = 0;
        uint64_t input_without_output = 0;
    };

    bool begin_message();
    void end_message();
    // Runs zlib over `in`; restarts the stream after a BFINAL block.
    InflateResult run(std::span<const uint8_t> in, std::span<uint8_t> out);
    // Restarts and counts the window copies as work in `result`.
    bool restart_after_final_block(InflateResult& result);
    // Adds one zlib call's input and output to `result` and the tally.
    void count_step(InflateResult& result, size_t used, size_t made);
    // over_ratio / no_output when the tally breaks a work bound, else ok.
    InflateStatus work_verdict() const;
    // The size limit (`allowance`: what was left of max_message_bytes
    // before the call); marks the inflater failed on any error.
    void clip_to_limit(InflateResult& result, uint64_t allowance);

    ZStream* stream_ = nullptr;
    Tally tally_;
    InflaterSettings settings_;
    Phase phase_ = Phase::idle;
    uint8_t trailer_fed_ = 0;        // bytes of the 00 00 ff ff trailer zlib has taken
    bool message_has_data_ = false;  // any compressed byte seen in this message
    bool fresh_stream_ = false;      // a BFINAL block ended the stream, nothing since
    bool at_boundary_ = false;       // finish(): the last call that made progress ended
                                     // at a byte-aligned block boundary
};

}  // namespace wsgate::proto
