#pragma once
// The bytes wsload sends. Every message is a slice of one pseudo-random pattern at
// one of a few thousand offsets ("variants"), so an echo can be checked byte by
// byte against the pattern without keeping a copy of what was sent.
//
// WebSocket frames are masked once, at start-up, each variant with its own random
// key (RFC 6455 §5.3), and then sent as they are: the server still unmasks every
// byte, but the generator does not spend its core re-masking every message. The
// cost is that mask keys repeat across messages, which matters to intermediaries
// being attacked (§10.3), not to a benchmark.

#include <cstdint>
#include <span>
#include <vector>

namespace wsgate::bench {

class PayloadPool {
  public:
    // `framed`: build masked WebSocket frames of `opcode`; otherwise raw slices.
    // `text`: pattern bytes are printable ASCII (valid UTF-8).
    PayloadPool(std::uint32_t payload_bytes, bool framed, bool text, std::uint8_t opcode);

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
