#include "proto/frame_decoder.hpp"

#include <new>
#include <vector>

namespace wsgate::proto {

// Room for the longer of a cut header (≤ 14 bytes) and a cut control
// payload (≤ 125); the two are never held at once.
struct FrameDecoder::FrameStash {
    uint8_t bytes[kMaxControlPayloadBytes];
};

namespace {

// Free stashes of this thread (the server's loops are per thread, so this
// is a per-loop pool). A few are kept so that a client trickling frames byte
// by byte costs no allocation per frame; beyond that they are freed.
constexpr size_t kMaxCachedStashes = 64;

template <class T>
class StashCache {
  public:
    ~StashCache() {
        for (T* s : free_)
            delete s;
    }
    T* take() {
        if (free_.empty()) return new T;
        T* s = free_.back();
        free_.pop_back();
        return s;
    }
    void give(T* s) {
        if (free_.size() >= kMaxCachedStashes) {
            delete s;
            return;
        }
        free_.push_back(s);
    }

  private:
    std::vector<T*> free_;
};

template <class T>
StashCache<T>& stash_cache() {
    thread_local StashCache<T> cache;
    return cache;
}

}  // namespace

FrameDecoder::FrameStash* FrameDecoder::take_stash() {
    return stash_cache<FrameStash>().take();
}

void FrameDecoder::give_stash(FrameStash* stash) {
    stash_cache<FrameStash>().give(stash);
}

uint8_t* FrameDecoder::stash_bytes() {
    if (stash_ == nullptr) stash_ = take_stash();
    return stash_->bytes;
}

namespace {
// First header byte (RFC 6455 §5.2).
constexpr uint8_t kFinBit = 0x80;
constexpr uint8_t kRsv1Bit = 0x40;
constexpr uint8_t kRsv2Rsv3Bits = 0x30;
constexpr uint8_t kOpcodeBits = 0x0F;
// Second header byte.
constexpr uint8_t kMaskBit = 0x80;
constexpr uint8_t kLength7Bits = 0x7F;
constexpr uint8_t kLength16Marker = 126;
constexpr uint8_t kLength64Marker = 127;
// RFC 6455 §5.2: "the most significant bit MUST be 0" in a 64-bit length.
constexpr uint64_t kLength64TopBit = uint64_t{1} << 63;
constexpr size_t kCloseCodeLength = 2;
constexpr uint16_t kServiceRestart = 1012;
constexpr uint16_t kBadGateway = 1014;
}  // namespace

CloseCode FrameDecoder::begin_frame(const uint8_t* header) {
    const uint8_t first = header[0];
    const uint8_t second = header[1];
    const uint8_t opcode = first & kOpcodeBits;
    const bool fin = (first & kFinBit) != 0;
    const bool rsv1 = (first & kRsv1Bit) != 0;
    const bool control = (opcode & kControlOpcodeBit) != 0;

    // RFC 6455 §5.2: RSV bits MUST be 0 unless an extension defines them;
    // permessage-deflate defines only RSV1.
    if ((first & kRsv2Rsv3Bits) != 0) return CloseCode::protocol_error;
    // RFC 6455 §5.2: reserved opcodes fail the connection.
    if (!is_defined_opcode(opcode)) return CloseCode::protocol_error;
    // RFC 6455 §5.1: a server MUST close on an unmasked client frame, a
    // client on a masked server frame.
    if (((second & kMaskBit) != 0) != expect_masked_) return CloseCode::protocol_error;
    // RFC 7692 §6.1: RSV1 marks the first frame of a compressed message only —
    // never a continuation or a control frame.
    if (rsv1 && (!rsv1_allowed_ || control || opcode == 0)) {
        return CloseCode::protocol_error;
    }

    const uint8_t length7 = second & kLength7Bits;
    const uint8_t* rest = header + kMinFrameHeader;
    uint64_t length = length7;
    if (length7 == kLength16Marker) {
        length = static_cast<uint64_t>(rest[0]) << 8 | rest[1];
        rest += kLength16Bytes;
    } else if (length7 == kLength64Marker) {
        length = 0;
        for (size_t i = 0; i < kLength64Bytes; ++i)
            length = length << 8 | rest[i];
        rest += kLength64Bytes;
        if ((length & kLength64TopBit) != 0) return CloseCode::protocol_error;
    }

    if (control) {
        // RFC 6455 §5.5: control frames are ≤ 125 bytes and never fragmented.
        if (!fin || length > kMaxControlPayloadBytes) return CloseCode::protocol_error;
        // RFC 6455 §5.5.1: a close body starts with a 2-byte code.
        if (opcode == static_cast<uint8_t>(Opcode::close) && length == 1) {
            return CloseCode::protocol_error;
        }
    } else {
        const bool first_frame = opcode != static_cast<uint8_t>(Opcode::continuation);
        // RFC 6455 §5.4: continuation only inside a message, and no new message
        // until the fragmented one ends.
        if (first_frame == in_message_) return CloseCode::protocol_error;
        const uint64_t so_far = first_frame ? 0 : message_bytes_;
        if (length > max_message_bytes_ - so_far) return CloseCode::message_too_big;
        if (first_frame) {
            in_message_ = true;
            message_opcode_ = static_cast<Opcode>(opcode);
            message_rsv1_ = rsv1;
            // A compressed message is validated by the layer that inflates it.
            validate_utf8_ = message_opcode_ == Opcode::text && !rsv1;
            utf8_.reset();
        }
        message_bytes_ = so_far + length;
        frame_first_ = first_frame;
    }

    frame_opcode_ = opcode;
    frame_fin_ = fin;
    remaining_ = length;
    key_ = expect_masked_ ? load_mask_key(rest) : 0;  // XOR with 0: nothing to undo
    key_offset_ = 0;
    return CloseCode::none;
}

CloseCode FrameDecoder::parse_close(const uint8_t* payload, size_t len, uint16_t& code,
                                    std::string_view& reason, bool from_server) {
    if (len == 0) {
        // RFC 6455 §7.1.5: no status code present.
        code = static_cast<uint16_t>(CloseCode::no_status);
        reason = {};
        return CloseCode::none;
    }
    if (len < kCloseCodeLength) return CloseCode::protocol_error;
    code = static_cast<uint16_t>(payload[0] << 8 | payload[1]);
    // A server may also close with the codes registered for servers since
    // RFC 6455 (IANA registry): 1012 service restart, 1013 try again later,
    // 1014 bad gateway.
    const bool server_code = from_server && code >= kServiceRestart && code <= kBadGateway;
    if (!is_valid_wire_close_code(code) && !server_code) return CloseCode::protocol_error;
    const uint8_t* text = payload + kCloseCodeLength;
    const size_t text_len = len - kCloseCodeLength;
    // RFC 6455 §5.5.1: the reason is UTF-8.
    if (!utf8_valid(text, text_len)) return CloseCode::invalid_payload;
    reason = std::string_view(reinterpret_cast<const char*>(text), text_len);
    return CloseCode::none;
}

void FrameDecoder::reset() {
    drop_stash();
    const FrameDecoderConfig config{max_message_bytes_, rsv1_allowed_};
    this->~FrameDecoder();
    new (this) FrameDecoder(config);
}

}  // namespace wsgate::proto
