// What an io_uring completion needs to find its owner, packed into the
// 64-bit user_data of the submission (one helper, one switch on `op`).
#pragma once

#include <cstdint>

namespace wsgate::io {

enum class Op : uint8_t {
    none = 0,
    accept,     // index: listener
    recv,       // index: connection
    send,       // index: connection
    cancel,     // completion of a cancel request; ignored
    wake,       // the loop's eventfd
    shutdown,   // IORING_OP_SHUTDOWN of a connection
    ring_wake,  // our IORING_OP_MSG_RING to another loop; index: its pending-wake slot
    connect,    // an outbound connection's socket became writable; index: connection
};

struct UserData {
    Op op;
    uint32_t index;
    uint32_t generation;  // low kGenerationBits bits of the slot generation
};

inline constexpr unsigned kGenerationBits = 24;
inline constexpr uint32_t kGenerationMask = (1u << kGenerationBits) - 1;

// Layout: op in bits 56..63, generation in bits 32..55, index in bits 0..31.
constexpr uint64_t pack_user_data(Op op, uint32_t index, uint32_t generation) {
    return (uint64_t{static_cast<uint8_t>(op)} << 56) |
           (uint64_t{generation & kGenerationMask} << 32) | index;
}

// Op::wake completions: the loop's eventfd read (re-armed after each), or a
// completion another io_uring loop posted with IORING_OP_MSG_RING (nothing
// to re-arm).
inline constexpr uint32_t kWakeByEventfd = 0;
inline constexpr uint32_t kWakeByRing = 1;

constexpr UserData unpack_user_data(uint64_t v) {
    return UserData{static_cast<Op>(v >> 56), static_cast<uint32_t>(v),
                    static_cast<uint32_t>(v >> 32) & kGenerationMask};
}

// What a MSG_RING wake carries into the target loop's ring.
inline constexpr uint64_t kRingWakeUserData = pack_user_data(Op::wake, kWakeByRing, 0);

}  // namespace wsgate::io
