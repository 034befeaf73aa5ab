// Server-to-client frames (RFC 6455 §5.2). Server frames are never masked
// (RFC 6455 §5.1), and lengths always use the minimal encoding (§5.2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "proto/opcode.hpp"

namespace wsgate::proto {

// 2 bytes + a 64-bit extended length; no masking key from a server.
inline constexpr size_t kMaxServerFrameHeader = 10;
// RFC 6455 §5.5: a control frame's payload is at most 125 bytes.
inline constexpr size_t kMaxControlPayload = 125;
// A close payload is a 2-byte code then the reason (RFC 6455 §5.5.1).
inline constexpr size_t kCloseCodeBytes = 2;
inline constexpr size_t kMaxCloseReason = kMaxControlPayload - kCloseCodeBytes;
// Room for any whole control frame written by this file.
inline constexpr size_t kMaxServerControlFrame = kMaxServerFrameHeader + kMaxControlPayload;

// Writes the header of an unmasked frame into out (room for
// kMaxServerFrameHeader bytes) with the minimal length encoding; the payload
// is sent separately (iovec), so nothing is copied. Returns the header length:
// 2 (length ≤ 125), 4 (≤ 65535) or 10. payload_length must be < 2^63 (§5.2).
size_t write_frame_header(uint8_t* out, Opcode opcode, bool fin, bool rsv1,
                          uint64_t payload_length);

// Writes a whole close frame (header + payload) into out, which must hold
// kMaxServerControlFrame bytes. code 0 (CloseCode::none) writes a close frame
// with an empty payload; otherwise the payload is the code in network order
// then `reason`, cut to 123 bytes on a UTF-8 code point boundary (the reason
// is assumed to be valid UTF-8). Returns the frame length.
size_t write_close_frame(uint8_t* out, uint16_t code, std::string_view reason);

// Writes a whole ping or pong frame (header + payload) into out, which must
// hold kMaxServerControlFrame bytes. A payload over 125 bytes is a caller bug:
// it is cut to 125 so the frame on the wire stays valid. Returns the frame length.
size_t write_control_frame(uint8_t* out, Opcode opcode, std::span<const uint8_t> payload);

}  // namespace wsgate::proto
