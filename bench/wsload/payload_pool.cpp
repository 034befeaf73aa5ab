#include "payload_pool.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "client_codec.hpp"

namespace wsgate::bench {
namespace {

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

// Appends one record; field values vary the way a ticker feed's do (a few
// symbols, prices near each other, rising timestamps).
void append_json_record(std::vector<std::uint8_t>& out, PatternRng& rng, std::uint64_t id,
                        std::uint64_t& ts) {
    static constexpr const char* kSymbols[] = {"ABC",  "XYZ",  "QQQ",  "MSFT", "AAPL", "GOOG",
                                               "AMZN", "NVDA", "TSLA", "META", "IBM",  "ORCL"};
    static constexpr const char* kSides[] = {"buy", "sell"};
    static constexpr const char* kVenues[] = {"XNAS", "XNYS", "ARCX", "BATS"};
    constexpr std::uint64_t kPriceCents = 100'000, kMinPrice = 1000, kLots = 50, kLot = 100;
    constexpr std::uint64_t kMaxTickMs = 40;
    ts += rng.next() % kMaxTickMs;
    const std::uint64_t cents = kMinPrice + rng.next() % kPriceCents;
    char record[256];
    const int n = std::snprintf(
        record, sizeof record,
        "{\"id\":%llu,\"symbol\":\"%s\",\"price\":%llu.%02llu,\"qty\":%llu,\"side\":\"%s\","
        "\"venue\":\"%s\",\"ts\":%llu}\n",
        static_cast<unsigned long long>(id), kSymbols[rng.next() % std::size(kSymbols)],
        static_cast<unsigned long long>(cents / 100), static_cast<unsigned long long>(cents % 100),
        static_cast<unsigned long long>((1 + rng.next() % kLots) * kLot),
        kSides[rng.next() % std::size(kSides)], kVenues[rng.next() % std::size(kVenues)],
        static_cast<unsigned long long>(ts));
    out.insert(out.end(), record, record + n);
}

}  // namespace

void fill_pattern(std::vector<std::uint8_t>& out, std::size_t length, PayloadKind kind, bool text) {
    PatternRng rng;
    out.clear();
    out.reserve(length + 256);
    if (kind == PayloadKind::kJson) {
        constexpr std::uint64_t kFirstId = 100'000, kFirstTs = 1'700'000'000'000;
        std::uint64_t ts = kFirstTs;
        for (std::uint64_t id = kFirstId; out.size() < length; ++id)
            append_json_record(out, rng, id, ts);
        out.resize(length);
        return;
    }
    out.resize(length);
    for (auto& b : out) {
        const auto r = static_cast<std::uint8_t>(rng.next() >> 56);
        b = text ? static_cast<std::uint8_t>(kFirstPrintable + r % kPrintableCount) : r;
    }
}

PayloadPool::PayloadPool(std::uint32_t payload_bytes, bool framed, bool text, std::uint8_t opcode,
                         PayloadKind kind)
    : payload_bytes_(payload_bytes), framed_(framed) {
    const std::size_t frame_max = std::size_t{payload_bytes} + kMaxClientHeader;
    const std::size_t count = std::clamp(kFrameBudget / frame_max, kMinVariants, kMaxVariants);
    // Variants are consecutive, non-overlapping slices (as far as the budget
    // allows), so no message repeats another: with permessage-deflate's context
    // takeover an echo would otherwise compress against the earlier messages
    // still in the LZ77 window, far better than real traffic does.
    const std::size_t stride =
        std::max<std::size_t>(1, std::min<std::size_t>(payload_bytes, kFrameBudget / count));
    fill_pattern(pattern_, stride * (count - 1) + payload_bytes, kind, text);
    offsets_.resize(count);
    for (std::size_t v = 0; v < count; ++v)
        offsets_[v] = static_cast<std::uint32_t>(v * stride);
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
