// One message for many connections of a loop (a publication for a
// channel's subscribers): the plain frame is built once, and the compressed
// frame once per distinct permessage-deflate agreement among connections
// that negotiated server_no_context_takeover (RFC 7692 §7.1.1.1), both
// lazily, on the first connection that needs them. Every connection then
// queues one of them by reference: no per-connection copy or compression.
// Connections with context takeover get the plain frame (RFC 7692 §6: each
// message may be sent uncompressed), since a message compressed outside
// their own stream would desynchronise their windows.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "io/shared_bytes.hpp"
#include "proto/opcode.hpp"
#include "ws/compression_state.hpp"
#include "ws/loop_compression.hpp"

namespace wsgate::ws {

class SharedMessage {
  public:
    // `payload` must stay valid while frames are still being chosen.
    SharedMessage(proto::Opcode opcode, std::span<const uint8_t> payload)
        : opcode_(opcode), payload_(payload) {}

    // The frame for a connection with this compression slot.
    io::SharedBytes& frame_for(const CompressionSlot& slot, LoopCompression& compression);

    proto::Opcode opcode() const { return opcode_; }
    size_t payload_size() const { return payload_.size(); }

  private:
    // Agreements told apart by the server window (8..15 bits); the client
    // window does not matter for what the server sends.
    static constexpr size_t kWindowSizes = 8;
    struct Compressed {
        io::SharedBytesRef frame;
        bool tried = false;  // empty frame after trying: send plain
    };

    io::SharedBytes& plain();

    proto::Opcode opcode_;
    std::span<const uint8_t> payload_;
    io::SharedBytesRef plain_;
    std::array<Compressed, kWindowSizes> compressed_;
};

}  // namespace wsgate::ws
