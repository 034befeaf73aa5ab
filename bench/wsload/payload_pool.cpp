#include "payload_pool.hpp"

#include <algorithm>
#include <cstring>

#include "client_codec.hpp"

namespace wsgate::bench {
namespace {

constexpr std::uint32_t kOffsetSpan = 4096;      // variants start within this many bytes
constexpr std::size_t kFrameBudget = 16u << 20;  // bytes of pre-masked frames
constexpr std::size_t kMinVariants = 16;
constexpr std::size_t kMaxVariants = 4096;
constexpr std::uint8_t kFirstPrintable = 0x20, kPrintableCount = 95;

// xorshift64*: a fixed, fast sequence; the pattern needs variety, not secrecy.
struct PatternRng {
    std::uint64_t state = 0x9E3779B97F4A7C15ull;
    std::uint64_t next() {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return state * 0x2545F4914F6CDD1Dull;
    }
};

}  // namespace

PayloadPool::PayloadPool(std::uint32_t payload_bytes, bool framed, bool text, std::uint8_t opcode)
    : payload_bytes_(payload_bytes), framed_(framed) {
    PatternRng rng;
    pattern_.resize(std::size_t{payload_bytes} + kOffsetSpan);
    for (auto& b : pattern_) {
        const auto r = static_cast<std::uint8_t>(rng.next() >> 56);
        b = text ? static_cast<std::uint8_t>(kFirstPrintable + r % kPrintableCount) : r;
    }
    const std::size_t frame_max = std::size_t{payload_bytes} + kMaxClientHeader;
    const std::size_t count =
        framed ? std::clamp(kFrameBudget / frame_max, kMinVariants, kMaxVariants) : kMaxVariants;
    offsets_.resize(count);
    for (auto& off : offsets_)
        off = static_cast<std::uint32_t>(rng.next() % kOffsetSpan);
    if (!framed) return;

    frame_stride_ = frame_max;
    frames_.resize(count * frame_stride_);
    frame_lengths_.resize(count);
    for (std::size_t v = 0; v < count; ++v) {
        std::uint8_t mask[4];
        random_bytes(mask, sizeof mask);
        std::uint8_t* out = frames_.data() + v * frame_stride_;
        const std::size_t header = write_client_header(out, opcode, payload_bytes, mask);
        std::memcpy(out + header, expected(static_cast<std::uint32_t>(v)), payload_bytes);
        apply_mask(out + header, payload_bytes, mask, 0);
        frame_lengths_[v] = static_cast<std::uint32_t>(header + payload_bytes);
    }
}

std::span<const std::uint8_t> PayloadPool::wire(std::uint32_t v) const {
    if (!framed_) return {expected(v), payload_bytes_};
    return {frames_.data() + v * frame_stride_, frame_lengths_[v]};
}

}  // namespace wsgate::bench
