// permessage-deflate (RFC 7692) for one server loop: negotiation at the
// upgrade, inflating incoming compressed messages into bounded scratch
// space, and compressing outgoing messages straight into the output queue.
// Owns the loop's two scratch buffers and a few spare CompressionState
// objects; every connection's state hangs off its CompressionSlot.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "io/out_queue.hpp"
#include "io/shared_bytes.hpp"
#include "proto/close_code.hpp"
#include "proto/deflate_negotiation.hpp"
#include "proto/extension_offer.hpp"
#include "proto/opcode.hpp"
#include "ws/compression_state.hpp"

namespace wsgate::ws {

// Inflated bytes are handed to the app at most this many at a time, and
// compressed output is framed in pieces of at most this size: the only
// per-loop buffers compression adds, whatever the message size.
inline constexpr size_t kCompressionScratchBytes = 16 * 1024;
// Parked CompressionState objects kept per loop for reuse, so that
// no_context_takeover connections do not allocate per message.
inline constexpr size_t kMaxSpareCompressionStates = 256;

// Why a compressed incoming message failed the connection.
struct InflateFailure {
    proto::CloseCode code = proto::CloseCode::none;  // none: no failure
    std::string_view reason;
};

// Counters of one loop's compression, for tests and reports.
struct CompressionStats {
    uint64_t streams_in_use = 0;  // zlib streams its connections hold now
    uint64_t peak_streams = 0;
    // Incoming compressed messages refused (1013) with the budget spent.
    uint64_t refused_no_stream = 0;
    // Outgoing messages sent uncompressed with the budget spent.
    uint64_t plain_no_stream = 0;
    // Incoming messages failed for their cost: 1009 (too big, as sent or
    // inflated) and 1008 (ratio, padding).
    uint64_t refused_too_big = 0;
    uint64_t refused_ratio = 0;
    uint64_t refused_padding = 0;
};

// Memory budget: at most max_streams zlib streams (each up to ~260 KiB: a
// 15-bit deflate window at memLevel 8; an inflate stream ~40 KiB) are held
// by the loop's connections at once, counting in-flight messages and kept
// context-takeover windows; 0: no budget. With the budget spent, a new
// incoming compressed message fails its connection with 1013 (try again
// later: waiting would hold the peer's input, and the budget exists for
// exactly the case where many peers do so), and an outgoing message that
// would need a new stream is sent uncompressed (RFC 7692 §6 lets a sender
// compress any subset of its messages).
class LoopCompression {
  public:
    LoopCompression(const proto::DeflateConfig& config, uint64_t max_message_bytes,
                    uint64_t max_streams = 0);
    ~LoopCompression();
    LoopCompression(const LoopCompression&) = delete;
    LoopCompression& operator=(const LoopCompression&) = delete;

    bool enabled() const { return config_.enabled; }

    // Handshake (RFC 7692 §5): negotiates from the client's offers. When one
    // is accepted, stores the agreement in `slot` and returns the
    // Sec-WebSocket-Extensions value (a view into this object, valid until
    // the next call); else returns an empty view and leaves `slot` cleared.
    std::string_view negotiate(const proto::ExtensionOffers& offers, CompressionSlot& slot);

    // ---- receiving (slot negotiated) ----

    // The first frame of an incoming message had RSV1: starts inflating it.
    // Returns a failure (1013) when the stream budget is spent, or (1011)
    // when zlib cannot allocate; the caller then fails the connection.
    InflateFailure begin_incoming(CompressionSlot& slot, proto::Opcode opcode);

    // True while an incoming compressed message is being inflated.
    static bool receiving(const CompressionSlot& slot) {
        const CompressionState* s = slot.state();
        return s != nullptr && s->receiving;
    }

    // Inflates one chunk of the message's compressed payload. Calls
    // deliver(std::span<const uint8_t> piece) with plain bytes (valid UTF-8
    // so far for text) whenever the scratch buffer fills and, unless
    // `message_ends_next` (the chunk ends the message and finish_incoming()
    // follows before anything else uses this loop), before returning.
    // Stops at the first failure: 1007 for invalid data or UTF-8, 1009 as
    // soon as the inflated size crosses max_message_bytes (or the
    // compressed size does), 1008 for a message that costs too much work
    // for its size (ratio, padding; see proto::InflaterSettings).
    //
    // With `budget` (the loop turn's inflate work left, decremented by each
    // inflate() call's work): stops between inflate() calls once it is
    // spent, delivers what was produced (the scratch is the loop's) and sets
    // `*taken` to the bytes of `chunk` used; the caller feeds the rest later.
    // Each inflate() call costs at most the scratch space plus its stream
    // restarts, so a turn overshoots its budget by that much at most.
    template <class Deliver>
    InflateFailure inflate_chunk(CompressionSlot& slot, std::span<const uint8_t> chunk,
                                 bool message_ends_next, Deliver&& deliver,
                                 uint64_t* budget = nullptr, size_t* taken = nullptr);

    // Ends the incoming message: drains the inflater and calls
    // deliver_last(std::span<const uint8_t> piece, bool last) with the
    // remaining bytes, the final call with last set (exactly once on success).
    template <class Deliver>
    InflateFailure finish_incoming(CompressionSlot& slot, Deliver&& deliver);

    // ---- sending ----

    // Queues the next piece of an outgoing message compressed, when the
    // slot is negotiated and the message is compressed: a message is
    // compressed unless it is known whole (first piece is also the last) and
    // shorter than min_message_bytes. Frames: RSV1 on the first one only
    // (RFC 7692 §6), opcode then continuations, FIN on the last; each at
    // most kCompressionScratchBytes of payload. Returns false when the piece
    // must be sent plain instead (nothing queued). in_message as in Outbound.
    bool send_piece(CompressionSlot& slot, io::OutQueue& queue, io::ChunkPool& pool,
                    bool& in_message, proto::Opcode opcode, std::span<const uint8_t> piece,
                    bool last);

    // zlib failed while compressing for this connection (fail it with 1011).
    static bool send_failed(const CompressionSlot& slot) {
        const CompressionState* s = slot.state();
        return s != nullptr && s->send_failed;
    }

    // Frees everything the connection holds (connection released).
    void release(CompressionSlot& slot);

    // ---- one message to many connections (ws/shared_message.hpp) ----

    // The whole message compressed once, from an empty window, as one
    // frame with RSV1 (RFC 7692 §6, §7.2.1), for every connection whose
    // agreement is `agreed` with server_no_context_takeover: without
    // context takeover each message stands alone (§7.1.1.1), so the same
    // bytes read the same on all of them. Empty when the message is under
    // min_message_bytes, compression does not make it smaller, or zlib
    // fails: those connections get the plain frame (§6 lets each message
    // choose).
    io::SharedBytesRef compressed_frame(const proto::DeflateAgreement& agreed, proto::Opcode opcode,
                                        std::span<const uint8_t> payload);
    // Messages compressed by compressed_frame (tests and stats).
    uint64_t shared_compressions() const { return shared_compressions_; }

    size_t spare_states() const { return spares_.size(); }
    const proto::DeflateConfig& config() const { return config_; }
    const CompressionStats& stats() const { return stats_; }
    uint64_t max_streams() const { return max_streams_; }
    // A reload's --max-message-bytes, for inflaters made from now on.
    void set_max_message_bytes(uint64_t n) { max_message_bytes_ = n; }

  private:
    bool budget_spent() const { return max_streams_ != 0 && stats_.streams_in_use >= max_streams_; }
    // Brings the budget's count in line with the streams `s` holds now.
    void recount(CompressionState& s);
    void count_stream(bool& counted, bool holds);
    // The slot's state object, created from its packed agreement when needed.
    CompressionState* state_for(CompressionSlot& slot);
    // Gives the object back when it holds nothing worth keeping.
    void park(CompressionSlot& slot);
    InflateFailure fail_incoming(CompressionSlot& slot, proto::InflateStatus status);
    // Queues scratch_out_[0, fill) as one frame.
    void emit_frame(io::OutQueue& queue, io::ChunkPool& pool, bool& in_message,
                    proto::Opcode opcode, size_t fill, bool fin);

    proto::DeflateConfig config_;
    uint64_t max_message_bytes_;
    uint64_t max_streams_;
    CompressionStats stats_;
    char response_[proto::kMaxDeflateResponseLength];
    std::vector<uint8_t> shared_out_;  // compressed_frame's output, reused
    uint64_t shared_compressions_ = 0;
    std::vector<std::unique_ptr<CompressionState>> spares_;
    // Inflated bytes of the connection being fed (only within one feed()).
    size_t in_fill_ = 0;
    uint8_t scratch_in_[kCompressionScratchBytes];
    uint8_t scratch_out_[kCompressionScratchBytes];
};

template <class Deliver>
InflateFailure LoopCompression::inflate_chunk(CompressionSlot& slot, std::span<const uint8_t> chunk,
                                              bool message_ends_next, Deliver&& deliver,
                                              uint64_t* budget, size_t* taken) {
    CompressionState& s = *slot.state();
    const size_t chunk_size = chunk.size();
    bool stopped = false;
    for (;;) {
        if (in_fill_ == kCompressionScratchBytes) {
            deliver(std::span<const uint8_t>(scratch_in_, in_fill_));
            in_fill_ = 0;
        }
        if (budget != nullptr && *budget == 0 && !chunk.empty()) {
            stopped = true;
            break;
        }
        uint8_t* out = scratch_in_ + in_fill_;
        proto::InflateResult r =
            s.inflater.inflate(chunk, std::span<uint8_t>(out, kCompressionScratchBytes - in_fill_));
        // Fail fast (RFC 6455 §8.1) on the bytes just produced, before any
        // of them can be delivered.
        if (s.validate_utf8 && !s.utf8.feed(out, r.produced)) {
            return fail_incoming(slot, proto::InflateStatus::invalid_data);
        }
        in_fill_ += r.produced;
        if (r.status != proto::InflateStatus::ok) return fail_incoming(slot, r.status);
        if (budget != nullptr) *budget -= std::min<uint64_t>(*budget, r.work);
        chunk = chunk.subspan(r.consumed);
        // Input used up and output space left over: zlib holds nothing more
        // that this input can produce.
        if (chunk.empty() && in_fill_ < kCompressionScratchBytes) break;
    }
    if ((stopped || !message_ends_next) && in_fill_ > 0) {
        deliver(std::span<const uint8_t>(scratch_in_, in_fill_));
        in_fill_ = 0;
    }
    if (taken != nullptr) *taken = chunk_size - chunk.size();
    return {};
}

template <class Deliver>
InflateFailure LoopCompression::finish_incoming(CompressionSlot& slot, Deliver&& deliver) {
    CompressionState& s = *slot.state();
    for (;;) {
        if (in_fill_ == kCompressionScratchBytes) {
            deliver(std::span<const uint8_t>(scratch_in_, in_fill_), false);
            in_fill_ = 0;
        }
        uint8_t* out = scratch_in_ + in_fill_;
        proto::InflateResult r =
            s.inflater.finish(std::span<uint8_t>(out, kCompressionScratchBytes - in_fill_));
        if (s.validate_utf8 && !s.utf8.feed(out, r.produced)) {
            return fail_incoming(slot, proto::InflateStatus::invalid_data);
        }
        in_fill_ += r.produced;
        if (r.status == proto::InflateStatus::done) break;
        if (r.status != proto::InflateStatus::ok) return fail_incoming(slot, r.status);
    }
    // RFC 6455 §8.1: a text message cannot end inside a code point.
    if (s.validate_utf8 && !s.utf8.at_boundary()) {
        return fail_incoming(slot, proto::InflateStatus::invalid_data);
    }
    s.receiving = false;
    s.validate_utf8 = false;
    size_t n = in_fill_;
    in_fill_ = 0;
    deliver(std::span<const uint8_t>(scratch_in_, n), true);
    // The app may have sent (and so changed the slot); park only afterwards.
    park(slot);
    return {};
}

}  // namespace wsgate::ws
