#pragma once
// What a wsload io_uring completion is about, packed in its user_data: the
// operation, the connection slot's generation (so completions that arrive
// after a slot was closed and reused are recognised), and the slot.

#include <cstdint>

namespace wsgate::bench {

enum class Op : std::uint8_t { kConnect = 1, kSend = 2, kRecv = 3 };

constexpr std::uint64_t pack(Op op, std::uint16_t gen, std::uint32_t index) {
    return (std::uint64_t{static_cast<std::uint8_t>(op)} << 56) | (std::uint64_t{gen} << 32) |
           index;
}
constexpr Op op_of(std::uint64_t data) {
    return static_cast<Op>(data >> 56);
}
constexpr std::uint16_t gen_of(std::uint64_t data) {
    return static_cast<std::uint16_t>(data >> 32);
}
constexpr std::uint32_t index_of(std::uint64_t data) {
    return static_cast<std::uint32_t>(data);
}

}  // namespace wsgate::bench
