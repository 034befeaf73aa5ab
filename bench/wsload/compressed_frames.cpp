#include "compressed_frames.hpp"

#include <algorithm>

#include "client_codec.hpp"
#include "proto/message_deflater.hpp"

namespace wsgate::bench {
namespace {

constexpr std::size_t kCompressBudget = 4u << 20;  // payload bytes compressed at start-up
constexpr std::size_t kMinVariants = 16;
constexpr std::size_t kMaxVariants = 1024;

}  // namespace

bool compress_message(std::span<const std::uint8_t> message, std::uint8_t window_bits, int level,
                      std::vector<std::uint8_t>& out) {
    proto::DeflaterSettings settings;
    // zlib has no 8-bit raw deflate window: stored blocks (level 0) keep to any
    // window, since they hold no back-references.
    settings.window_bits = std::max(window_bits, proto::kMinZlibWindowBits);
    settings.level = static_cast<std::int8_t>(window_bits < proto::kMinZlibWindowBits ? 0 : level);
    // A fresh window per message, and the stream comes from the thread's pool.
    settings.no_context_takeover = true;
    proto::MessageDeflater deflater(settings);
    out.resize(proto::deflate_output_bound(message.size()));
    std::size_t produced = 0;
    auto room = [&]() -> std::span<std::uint8_t> {
        if (out.size() - produced < proto::kMinDeflateOutput)
            out.resize(out.size() + proto::kMinDeflateOutput * 4);
        return {out.data() + produced, out.size() - produced};
    };
    while (!message.empty()) {
        const proto::DeflateResult r = deflater.compress(message, room());
        if (r.status == proto::DeflateStatus::error) return false;
        produced += r.produced;
        message = message.subspan(r.consumed);
    }
    while (true) {
        const proto::DeflateResult r = deflater.finish(room());
        if (r.status == proto::DeflateStatus::error) return false;
        produced += r.produced;
        if (r.status == proto::DeflateStatus::done) break;
    }
    out.resize(produced);
    return true;
}

CompressedFrames::CompressedFrames(const PayloadPool& pool, std::uint8_t window_bits,
                                   std::uint8_t opcode, int level)
    : window_bits_(window_bits) {
    const std::size_t per = std::max<std::size_t>(1, pool.payload_bytes());
    const std::size_t count = std::min<std::size_t>(
        pool.variants(), std::clamp(kCompressBudget / per, kMinVariants, kMaxVariants));
    std::vector<std::uint8_t> compressed;
    for (std::size_t v = 0; v < count; ++v) {
        const auto variant = static_cast<std::uint32_t>(v);
        if (!compress_message({pool.expected(variant), pool.payload_bytes()}, window_bits, level,
                              compressed)) {
            ok_ = false;
            return;
        }
        std::uint8_t mask[4];
        random_bytes(mask, sizeof mask);
        const std::size_t start = frames_.size();
        frames_.resize(start + kMaxClientHeader + compressed.size());
        std::uint8_t* out = frames_.data() + start;
        const std::size_t header =
            write_client_header(out, opcode, compressed.size(), mask, /*compressed=*/true);
        std::copy(compressed.begin(), compressed.end(), out + header);
        apply_mask(out + header, compressed.size(), mask, 0);
        frames_.resize(start + header + compressed.size());
        starts_.push_back(start);
        lengths_.push_back(static_cast<std::uint32_t>(header + compressed.size()));
        payload_lengths_.push_back(static_cast<std::uint32_t>(compressed.size()));
    }
}

}  // namespace wsgate::bench
