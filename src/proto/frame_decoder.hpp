// Incremental, in-place decoder of client-to-server frames (RFC 6455 §5),
// with every rule a server must enforce.
//
// Non-minimal length encodings (e.g. a 5-byte payload sent with a 16-bit
// length) are accepted: RFC 6455 §5.2 obliges the *sender* to use the minimal
// form but names no receiver reaction, Autobahn does not fail it, and the
// length is unambiguous either way. Every other violation fails the
// connection with the close code the server contract lists.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "proto/close_code.hpp"
#include "proto/opcode.hpp"
#include "proto/unmask.hpp"
#include "proto/utf8.hpp"

namespace wsgate::proto {

struct FrameDecoderConfig {
    uint64_t max_message_bytes =
        16 * 1024 * 1024;       // over → 1009 as soon as a frame header shows it
    bool rsv1_allowed = false;  // true once permessage-deflate is negotiated
    // false: decode as a client decodes a server's frames, which MUST NOT be
    // masked (RFC 6455 §5.1: a client closes on a masked frame) - a reverse
    // proxy's upstream side.
    bool expect_masked = true;
};

struct DataFrame {
    Opcode message_opcode;    // text or binary: the message's kind, also for continuation frames
    bool first;               // first frame of the message (opcode text/binary on the wire)
    bool fin;                 // last frame of the message
    bool rsv1;                // RSV1 of the message's first frame (compressed message)
    uint64_t payload_length;  // this frame's payload length
};

struct DecodeResult {
    size_t consumed;                    // bytes of data[0, len) used
    CloseCode error = CloseCode::none;  // set: fail the connection with this code (1002/1007/1009)
    bool closed = false;                // a close frame was received (after on_close)
    // The handler paused inside a payload (pause_payload): consumed ends
    // where it stopped taking bytes; feed the rest later, unchanged.
    bool paused = false;
};

// Handler (a template parameter, no virtual calls) must provide:
//   void on_frame_begin(const DataFrame&);                 // a data frame's header is complete
//   void on_frame_payload(std::span<uint8_t> chunk);       // unmasked IN PLACE in the caller's
//                                                          // buffer; uncompressed text is
//                                                          // already UTF-8 validated
//   void on_frame_end(bool message_end);                   // this frame's payload is complete
//   void on_ping(std::span<const uint8_t> payload);
//   void on_pong(std::span<const uint8_t> payload);
//   void on_close(uint16_t code, std::string_view reason);  // 1005 when the payload is empty
// Views passed to the handler are valid only during the call.
//
// Idle cost: 56 bytes (static_assert below). A header or control frame cut
// across feeds is collected in a FrameStash taken from a per-thread cache
// only while the cut is pending (rare: a client would have to split a
// header or a ≤ 125-byte control frame across TCP segments), so a decoder
// between frames holds no buffer. A decoder must be fed and destroyed on one
// thread (the server's loops are per thread).
class FrameDecoder {
  public:
    explicit FrameDecoder(const FrameDecoderConfig& config = {})
        : max_message_bytes_(config.max_message_bytes),
          rsv1_allowed_(config.rsv1_allowed),
          expect_masked_(config.expect_masked) {}
    ~FrameDecoder() { drop_stash(); }
    FrameDecoder(const FrameDecoder&) = delete;
    FrameDecoder& operator=(const FrameDecoder&) = delete;

    // Consumes data[0, len) (mutable: payload is unmasked in place), calling
    // the handler as frames progress. A header or a control frame cut across
    // calls is kept inside the decoder (≤ 14 and ≤ 125 bytes); data payload is
    // never copied. Reads and writes only data[0, len).
    // Returns consumed == len unless it stopped: at the first error (error set,
    // consumed is how far it read; the rest is to be discarded) or right after
    // a close frame (closed set, consumed ends with that frame). Once stopped,
    // later calls deliver nothing and return the same verdict with consumed 0.
    template <class Handler>
    DecodeResult feed(uint8_t* data, size_t len, Handler& handler);

    // Back to the start of a message stream (keeps the config).
    void reset();

    // Inside on_frame_payload of a compressed message (RSV1; its payload is
    // not UTF-8-checked here): the handler did not take `tail`, the end of
    // the chunk it was given. feed() returns right after the call with
    // paused set and consumed ending before `tail`, whose bytes are masked
    // again as they arrived, so feeding them later continues the frame.
    // Lets a handler stop after a bounded amount of work.
    void pause_payload(std::span<uint8_t> tail) {
        if (tail.empty() || validate_utf8_) return;
        const size_t offset =
            (key_offset_ + kMaskKeyBytes - tail.size() % kMaskKeyBytes) % kMaskKeyBytes;
        apply_key(tail.data(), tail.size(), offset);  // XOR again: masked as received
        key_offset_ = static_cast<uint8_t>(offset);
        remaining_ += tail.size();
        state_ = State::paused;
    }

    // A new limit for messages (and frames) whose first header comes after
    // this call; the message in progress keeps counting against it as well.
    void set_max_message_bytes(uint64_t n) { max_message_bytes_ = n; }

    void set_config(const FrameDecoderConfig& config) {
        max_message_bytes_ = config.max_message_bytes;
        rsv1_allowed_ = config.rsv1_allowed;
        expect_masked_ = config.expect_masked;
    }

    // The current data frame, for a handler inside on_frame_payload /
    // on_frame_end (so it need not keep copies of its own):
    // payload bytes still due after the chunk being delivered,
    uint64_t payload_remaining() const { return remaining_; }
    // whether the frame ends its message,
    bool frame_fin() const { return frame_fin_; }
    // the message's kind (text or binary).
    Opcode message_opcode() const { return message_opcode_; }
    // Inside on_frame_payload: how many bytes right before the chunk, in the
    // same caller buffer, held this frame's header (0 when the header came
    // in an earlier feed, or for a later chunk of the frame). The decoder no
    // longer needs them: a server may build its own frame header there and
    // send header and payload as one contiguous piece.
    size_t payload_headroom() const { return headroom_; }

    // True while a cut header or control frame is held (a stash is taken).
    bool holds_stash() const { return stash_ != nullptr; }

    // Between messages with nothing held: a fresh decoder of the same
    // config would go on exactly as this one (a live upgrade moves it so).
    bool at_message_boundary() const {
        return state_ == State::header && !in_message_ && stash_ == nullptr;
    }

  private:
    // paused: data_payload, left for one return from feed() (pause_payload).
    enum class State : uint8_t { header, data_payload, control_payload, failed, closed, paused };

    // RFC 6455 §5.2: 2 bytes, up to 8 of extended length, 4 of masking key.
    static constexpr size_t kMinFrameHeader = 2;
    static constexpr size_t kMaxFrameHeader = 14;
    static constexpr size_t kMaskKeyBytes = 4;
    static constexpr size_t kLength16Bytes = 2;
    static constexpr size_t kLength64Bytes = 8;
    static constexpr size_t kMaxControlPayloadBytes = 125;  // RFC 6455 §5.5

    // Header length announced by the second header byte (RFC 6455 §5.2):
    // 7-bit length 126 adds 2 bytes, 127 adds 8; the MASK bit adds the key.
    static constexpr size_t header_size(uint8_t second_byte) {
        constexpr uint8_t kMaskBit = 0x80;
        constexpr uint8_t kLength7Bits = 0x7F;
        constexpr uint8_t kLength16Marker = 126;
        constexpr uint8_t kLength64Marker = 127;
        const uint8_t length7 = second_byte & kLength7Bits;
        size_t size = kMinFrameHeader + ((second_byte & kMaskBit) != 0 ? kMaskKeyBytes : 0);
        if (length7 == kLength16Marker) size += kLength16Bytes;
        if (length7 == kLength64Marker) size += kLength64Bytes;
        return size;
    }

    // Checks a complete header (header_size bytes) against the server rules and
    // the message in progress; on success sets up the frame. Returns the error.
    CloseCode begin_frame(const uint8_t* header);

    // unmask() with the frame's key; unmasked frames (key 0) are left as they are.
    size_t apply_key(uint8_t* data, size_t len, size_t offset) const {
        if (key_ == 0) return (offset + len) % kMaskKeyBytes;
        return unmask(data, len, key_, offset);
    }

    // Parses a complete, unmasked close payload (RFC 6455 §5.5.1, §7.4).
    // from_server: decoding as a client (expect_masked false).
    static CloseCode parse_close(const uint8_t* payload, size_t len, uint16_t& code,
                                 std::string_view& reason, bool from_server);

    DecodeResult fail(CloseCode code, size_t consumed) {
        state_ = State::failed;
        error_ = code;
        drop_stash();
        return DecodeResult{consumed, code, false};
    }

    // Right after begin_frame no payload has been consumed yet.
    DataFrame current_frame() const {
        return DataFrame{message_opcode_, frame_first_, frame_fin_, message_rsv1_, remaining_};
    }

    // The per-thread stash cache (frame_decoder.cpp).
    struct FrameStash;
    static FrameStash* take_stash();
    static void give_stash(FrameStash* stash);
    uint8_t* stash_bytes();
    void drop_stash() {
        if (stash_ != nullptr) give_stash(stash_);
        stash_ = nullptr;
        stash_len_ = 0;
    }

    // Called when a data frame's payload is complete; ends the message on FIN.
    template <class Handler>
    CloseCode end_data_frame(Handler& handler);

    // Unmasks and delivers the data payload available in data[pos, len),
    // advancing pos; ends the frame when its payload is complete.
    template <class Handler>
    CloseCode consume_data(uint8_t* data, size_t len, size_t& pos, Handler& handler);

    // Delivers a whole, unmasked control frame. Returns the error, if any;
    // leaves state_ closed after a close frame.
    template <class Handler>
    CloseCode deliver_control(uint8_t* payload, size_t len, Handler& handler);

    // Wider fields first: no padding holes (see the size check below).
    uint64_t max_message_bytes_;
    uint64_t remaining_ = 0;      // payload bytes of the current frame still due
    uint64_t message_bytes_ = 0;  // payload bytes of the data message so far
    // A header (≤ 14 bytes), then a control payload (≤ 125, still masked),
    // cut across feeds; nullptr unless such a cut is pending.
    FrameStash* stash_ = nullptr;
    MaskKey key_ = 0;
    CloseCode error_ = CloseCode::none;
    Utf8Validator utf8_;
    State state_ = State::header;
    uint8_t stash_len_ = 0;
    uint8_t key_offset_ = 0;  // 0..3: where the mask key continues
    uint8_t headroom_ = 0;    // see payload_headroom()
    uint8_t frame_opcode_ = 0;
    bool frame_fin_ = false;
    bool frame_first_ = false;
    // Settings, read once per frame header: one byte for both.
    bool rsv1_allowed_ : 1;
    bool expect_masked_ : 1;
    // The data message in progress (from its first frame's header to the end
    // of its FIN frame's payload).
    bool in_message_ = false;
    bool message_rsv1_ = false;
    bool validate_utf8_ = false;
    Opcode message_opcode_ = Opcode::binary;
};

// What every idle connection pays for its decoder (the server's memory budget).
static_assert(sizeof(FrameDecoder) <= 56, "FrameDecoder grew: check the idle memory budget");

template <class Handler>
CloseCode FrameDecoder::end_data_frame(Handler& handler) {
    if (!frame_fin_) {
        state_ = State::header;
        handler.on_frame_end(false);
        return CloseCode::none;
    }
    // RFC 6455 §8.1: a text message must be valid UTF-8 as a whole, so it
    // cannot end inside a code point.
    if (validate_utf8_ && !utf8_.at_boundary()) return CloseCode::invalid_payload;
    in_message_ = false;
    validate_utf8_ = false;
    message_bytes_ = 0;
    utf8_.reset();
    state_ = State::header;
    handler.on_frame_end(true);
    return CloseCode::none;
}

template <class Handler>
CloseCode FrameDecoder::consume_data(uint8_t* data, size_t len, size_t& pos, Handler& handler) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, len - pos));
    if (n > 0) {
        uint8_t* chunk = data + pos;
        key_offset_ = static_cast<uint8_t>(apply_key(chunk, n, key_offset_));
        pos += n;
        remaining_ -= n;
        const uint64_t remaining_after = remaining_;
        // Fail fast (RFC 6455 §8.1): an invalid sequence is never delivered.
        if (validate_utf8_ && !utf8_.feed(chunk, n)) return CloseCode::invalid_payload;
        handler.on_frame_payload(std::span<uint8_t>(chunk, n));
        headroom_ = 0;
        if (state_ == State::paused) {
            pos -= static_cast<size_t>(remaining_ - remaining_after);  // the untaken tail
            return CloseCode::none;
        }
    }
    if (remaining_ == 0) return end_data_frame(handler);
    return CloseCode::none;
}

template <class Handler>
CloseCode FrameDecoder::deliver_control(uint8_t* payload, size_t len, Handler& handler) {
    state_ = State::header;
    switch (static_cast<Opcode>(frame_opcode_)) {
        case Opcode::ping:
            handler.on_ping(std::span<const uint8_t>(payload, len));
            return CloseCode::none;
        case Opcode::pong:
            handler.on_pong(std::span<const uint8_t>(payload, len));
            return CloseCode::none;
        default: {
            uint16_t code = 0;
            std::string_view reason;
            CloseCode error = parse_close(payload, len, code, reason, !expect_masked_);
            if (error != CloseCode::none) return error;
            state_ = State::closed;
            handler.on_close(code, reason);
            return CloseCode::none;
        }
    }
}

template <class Handler>
DecodeResult FrameDecoder::feed(uint8_t* data, size_t len, Handler& handler) {
    if (state_ == State::failed) return DecodeResult{0, error_, false};
    if (state_ == State::closed) return DecodeResult{0, CloseCode::none, true};
    // A new caller buffer: nothing before data belongs to this frame (a
    // header that ended the last feed must not be offered as headroom here).
    headroom_ = 0;
    size_t pos = 0;
    for (;;) {
        switch (state_) {
            case State::header: {
                if (pos == len) return DecodeResult{pos};
                const uint8_t* header;
                size_t available = len - pos;
                size_t size = 0;
                if (stash_len_ == 0 && available >= kMinFrameHeader &&
                    available >= (size = header_size(data[pos + 1]))) {
                    // Fast path: the whole header is in the buffer.
                    header = data + pos;
                    pos += size;
                    headroom_ = static_cast<uint8_t>(size);
                } else {
                    uint8_t* stash = stash_bytes();
                    if (stash_len_ < kMinFrameHeader) {
                        size_t take = std::min(kMinFrameHeader - stash_len_, available);
                        std::memcpy(stash + stash_len_, data + pos, take);
                        stash_len_ += static_cast<uint8_t>(take);
                        pos += take;
                        if (stash_len_ < kMinFrameHeader) return DecodeResult{pos};
                    }
                    size_t need = header_size(stash[1]);
                    size_t take = std::min(need - stash_len_, len - pos);
                    std::memcpy(stash + stash_len_, data + pos, take);
                    stash_len_ += static_cast<uint8_t>(take);
                    pos += take;
                    if (stash_len_ < need) return DecodeResult{pos};
                    header = stash;
                    stash_len_ = 0;
                    headroom_ = 0;
                }
                CloseCode error = begin_frame(header);
                if (error != CloseCode::none) return fail(error, pos);
                drop_stash();  // the header is parsed; a cut control payload takes one again
                if ((frame_opcode_ & kControlOpcodeBit) != 0) {
                    if (len - pos >= remaining_) {
                        // Whole control frame in the buffer: unmask in place, no copy.
                        size_t n = static_cast<size_t>(remaining_);
                        uint8_t* payload = data + pos;
                        apply_key(payload, n, 0);
                        pos += n;
                        remaining_ = 0;
                        error = deliver_control(payload, n, handler);
                        if (error != CloseCode::none) return fail(error, pos);
                        if (state_ == State::closed)
                            return DecodeResult{pos, CloseCode::none, true};
                    } else {
                        stash_len_ = 0;  // the payload continues in later feeds
                        state_ = State::control_payload;
                    }
                } else {
                    state_ = State::data_payload;
                    handler.on_frame_begin(current_frame());
                    // Straight on to the payload: small frames pass the loop once.
                    error = consume_data(data, len, pos, handler);
                    if (error != CloseCode::none) return fail(error, pos);
                }
                break;
            }
            case State::data_payload: {
                if (pos == len) return DecodeResult{pos};
                CloseCode error = consume_data(data, len, pos, handler);
                if (error != CloseCode::none) return fail(error, pos);
                break;
            }
            case State::control_payload: {
                if (pos == len) return DecodeResult{pos};
                size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, len - pos));
                uint8_t* stash = stash_bytes();
                std::memcpy(stash + stash_len_, data + pos, n);
                stash_len_ += static_cast<uint8_t>(n);
                pos += n;
                remaining_ -= n;
                if (remaining_ == 0) {
                    apply_key(stash, stash_len_, 0);
                    CloseCode error = deliver_control(stash, stash_len_, handler);
                    drop_stash();
                    if (error != CloseCode::none) return fail(error, pos);
                    if (state_ == State::closed) return DecodeResult{pos, CloseCode::none, true};
                }
                break;
            }
            case State::paused:
                state_ = State::data_payload;
                return DecodeResult{pos, CloseCode::none, false, true};
            case State::failed:
                return DecodeResult{pos, error_, false};
            case State::closed:
                return DecodeResult{pos, CloseCode::none, true};
        }
    }
}

}  // namespace wsgate::proto
