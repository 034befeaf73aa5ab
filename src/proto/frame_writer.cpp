#include "proto/frame_writer.hpp"

#include <algorithm>
#include <cstring>

#include "proto/close_code.hpp"

namespace wsgate::proto {

namespace {
constexpr uint8_t kFinBit = 0x80;
constexpr uint8_t kRsv1Bit = 0x40;
// RFC 6455 §5.2 payload length forms.
constexpr uint64_t kMaxLength7 = 125;
constexpr uint64_t kMaxLength16 = 0xFFFF;
constexpr uint8_t kLength16Marker = 126;
constexpr uint8_t kLength64Marker = 127;
constexpr size_t kLength64Bytes = 8;
constexpr size_t kHeader7 = 2;
constexpr size_t kHeader16 = 4;
constexpr size_t kHeader64 = 10;
static_assert(kHeader64 == kMaxServerFrameHeader);
static_assert(kCloseCodeBytes + kMaxCloseReason == kMaxControlPayload);

// True for the bytes 10xxxxxx that continue a UTF-8 code point.
bool is_utf8_continuation(char c) {
    return (static_cast<uint8_t>(c) & 0xC0) == 0x80;
}
}  // namespace

size_t write_frame_header(uint8_t* out, Opcode opcode, bool fin, bool rsv1,
                          uint64_t payload_length) {
    out[0] = static_cast<uint8_t>((fin ? kFinBit : 0) | (rsv1 ? kRsv1Bit : 0) |
                                  static_cast<uint8_t>(opcode));
    if (payload_length <= kMaxLength7) {
        out[1] = static_cast<uint8_t>(payload_length);
        return kHeader7;
    }
    if (payload_length <= kMaxLength16) {
        out[1] = kLength16Marker;
        out[2] = static_cast<uint8_t>(payload_length >> 8);
        out[3] = static_cast<uint8_t>(payload_length);
        return kHeader16;
    }
    out[1] = kLength64Marker;
    for (size_t i = 0; i < kLength64Bytes; ++i) {
        out[2 + i] = static_cast<uint8_t>(payload_length >> (8 * (kLength64Bytes - 1 - i)));
    }
    return kHeader64;
}

size_t write_close_frame(uint8_t* out, uint16_t code, std::string_view reason) {
    if (code == static_cast<uint16_t>(CloseCode::none)) {
        return write_frame_header(out, Opcode::close, true, false, 0);
    }
    size_t reason_len = reason.size();
    if (reason_len > kMaxCloseReason) {
        // Cut before the code point that would not fit whole.
        reason_len = kMaxCloseReason;
        while (reason_len > 0 && is_utf8_continuation(reason[reason_len]))
            --reason_len;
    }
    size_t header =
        write_frame_header(out, Opcode::close, true, false, kCloseCodeBytes + reason_len);
    uint8_t* payload = out + header;
    payload[0] = static_cast<uint8_t>(code >> 8);
    payload[1] = static_cast<uint8_t>(code);
    if (reason_len > 0) std::memcpy(payload + kCloseCodeBytes, reason.data(), reason_len);
    return header + kCloseCodeBytes + reason_len;
}

size_t write_control_frame(uint8_t* out, Opcode opcode, std::span<const uint8_t> payload) {
    size_t len = std::min(payload.size(), kMaxControlPayload);
    size_t header = write_frame_header(out, opcode, true, false, len);
    if (len > 0) std::memcpy(out + header, payload.data(), len);
    return header + len;
}

}  // namespace wsgate::proto
