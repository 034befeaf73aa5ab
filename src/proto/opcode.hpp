// WebSocket frame opcodes (RFC 6455 §5.2, §11.8).
#pragma once

#include <cstdint>

namespace wsgate::proto {

// The 4-bit opcode of a frame. Values 0x3-0x7 and 0xB-0xF are reserved and
// never form an Opcode outside the decoder's validity check.
enum class Opcode : uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

// Control frames have the high bit of the opcode set (RFC 6455 §5.5).
inline constexpr uint8_t kControlOpcodeBit = 0x8;

inline constexpr bool is_control(Opcode opcode) {
    return (static_cast<uint8_t>(opcode) & kControlOpcodeBit) != 0;
}

// True for the six opcodes RFC 6455 defines; the rest are reserved (§5.2).
inline constexpr bool is_defined_opcode(uint8_t value) {
    switch (value) {
        case 0x0:
        case 0x1:
        case 0x2:
        case 0x8:
        case 0x9:
        case 0xA:
            return true;
        default:
            return false;
    }
}

}  // namespace wsgate::proto
