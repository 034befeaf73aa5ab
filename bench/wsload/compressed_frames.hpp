#pragma once
// Pre-compressed, pre-masked frames for permessage-deflate (RFC 7692), built once
// per worker and negotiated client window, so the generator's core does not run
// zlib (or re-mask) per message.
//
// Each variant is compressed as its own DEFLATE stream (fresh window, ended with
// a sync flush whose 00 00 ff ff is stripped, §7.2.1), so it is valid whatever
// the connection agreed about the client's context:
// - client_no_context_takeover: the server resets its inflater per message, and
//   a fresh-stream message is exactly what it expects.
// - context takeover: the server keeps its LZ77 window from earlier messages
//   (§7.2.2). A DEFLATE back-reference may reach into earlier data (RFC 1951
//   §3.2: "a previous block"), but only into data the compressor itself has
//   seen: a stream compressed from an empty window (zlib after deflateInit2 or
//   deflateReset) never emits a distance reaching before its own first byte, so
//   the inflater decodes it to the same bytes whatever its window holds. Taking
//   over context is a permission for the sender, not an obligation (§7.1.1.2).
//   Sync flush ends on a byte boundary with no BFINAL block, so the peer's
//   stream continues cleanly into the next message.
// - client_max_window_bits=N: every distance is below 2^N because the stream is
//   compressed with an N-bit window. zlib cannot deflate with an 8-bit window,
//   so for N=8 the variants are stored uncompressed in DEFLATE "stored" blocks
//   (level 0), which hold no back-references at all.

#include <cstdint>
#include <span>
#include <vector>

#include "payload_pool.hpp"

namespace wsgate::bench {

class CompressedFrames {
  public:
    // Compresses the first variants of `pool` (at most a few MiB of input) with
    // `window_bits` (8..15) at zlib `level`, each framed (FIN, RSV1, `opcode`) and
    // masked with its own random key. ok() is false if zlib failed.
    CompressedFrames(const PayloadPool& pool, std::uint8_t window_bits, std::uint8_t opcode,
                     int level);

    bool ok() const { return ok_; }
    std::uint32_t variants() const { return static_cast<std::uint32_t>(lengths_.size()); }
    std::uint8_t window_bits() const { return window_bits_; }
    // The whole frame for variant v (v < variants(); same payload as pool variant v).
    std::span<const std::uint8_t> wire(std::uint32_t v) const {
        return {frames_.data() + starts_[v], lengths_[v]};
    }
    // Its compressed payload length (the frame without its header).
    std::uint32_t payload_wire_bytes(std::uint32_t v) const { return payload_lengths_[v]; }

  private:
    std::uint8_t window_bits_;
    bool ok_ = true;
    std::vector<std::uint8_t> frames_;
    std::vector<std::size_t> starts_;
    std::vector<std::uint32_t> lengths_, payload_lengths_;
};

// Compresses `message` as one independent permessage-deflate message (fresh
// window) into `out`; false if zlib failed. Used by CompressedFrames and tests.
bool compress_message(std::span<const std::uint8_t> message, std::uint8_t window_bits, int level,
                      std::vector<std::uint8_t>& out);

}  // namespace wsgate::bench
