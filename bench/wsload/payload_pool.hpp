#pragma once
// The bytes wsload sends. Every message is a slice of one deterministic pattern
// (pseudo-random bytes or JSON-like records) at one of up to 4096 offsets
// ("variants", consecutive slices of at most 16 MiB in all), so an echo can be
// checked byte by byte against the pattern without keeping a copy of what was sent.
//
// WebSocket frames are masked once, at start-up, each variant with its own random
// key (RFC 6455 §5.3), and then sent as they are: the server still unmasks every
// byte, but the generator does not spend its core re-masking every message. The
// cost is that mask keys repeat across messages, which matters to intermediaries
// being attacked (§10.3), not to a benchmark.

#include <cstdint>
#include <span>
#include <vector>

#include "options.hpp"

namespace wsgate::bench {

// Fills `out` with the kind's deterministic pattern: kRandom pseudo-random bytes
// (printable ASCII when `text`), kJson newline-separated JSON records such as
// {"id":123,"symbol":"ABC","price":101.25,"qty":300,...} (always ASCII), which
// compress several times over like real market-data or chat traffic.
void fill_pattern(std::vector<std::uint8_t>& out, std::size_t length, PayloadKind kind, bool text);

class PayloadPool {
  public:
    // `framed`: build masked WebSocket frames of `opcode`; otherwise raw slices.
    // `text`: random pattern bytes are printable ASCII (valid UTF-8).
    PayloadPool(std::uint32_t payload_bytes, bool framed, bool text, std::uint8_t opcode,
                PayloadKind kind = PayloadKind::kRandom);

    std::uint32_t variants() const { return static_cast<std::uint32_t>(offsets_.size()); }
    // The bytes to put on the wire for variant v.
    std::span<const std::uint8_t> wire(std::uint32_t v) const;
    // The payload the echo of variant v must carry (unmasked).
    const std::uint8_t* expected(std::uint32_t v) const { return pattern_.data() + offsets_[v]; }
    std::uint32_t payload_bytes() const { return payload_bytes_; }

  private:
    std::uint32_t payload_bytes_;
    bool framed_;
    std::vector<std::uint8_t> pattern_;
    std::vector<std::uint32_t> offsets_;
    std::vector<std::uint8_t> frames_;  // framed: variants() frames, frame_stride_ apart
    std::vector<std::uint32_t> frame_lengths_;
    std::size_t frame_stride_ = 0;
};

}  // namespace wsgate::bench
