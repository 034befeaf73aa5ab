// What an application may send on a connection: message pieces (each becomes
// one frame) and, before the upgrade, raw HTTP response bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "io/out_queue.hpp"
#include "proto/frame_writer.hpp"
#include "proto/opcode.hpp"
#include "ws/loop_compression.hpp"

namespace wsgate::ws {

class Outbound {
  public:
    // compression/slot: set for a connection that negotiated permessage-deflate.
    Outbound(io::OutQueue& queue, io::ChunkPool& pool, bool& in_message,
             LoopCompression* compression = nullptr, CompressionSlot* slot = nullptr)
        : queue_(queue),
          pool_(pool),
          in_message_(in_message),
          compression_(compression),
          slot_(slot) {}

    // Queues the next piece of an outgoing text/binary message as one frame
    // (RFC 6455 §5.4: the first frame carries the opcode, later ones are
    // continuations, the last has FIN). An empty piece that is not the last
    // is skipped. With permessage-deflate the message may instead go out
    // compressed, framed by LoopCompression::send_piece.
    void send_message_piece(proto::Opcode opcode, std::span<const uint8_t> piece, bool last) {
        if (compression_ != nullptr &&
            compression_->send_piece(*slot_, queue_, pool_, in_message_, opcode, piece, last)) {
            return;
        }
        if (piece.empty() && !last) return;
        uint8_t header[proto::kMaxServerFrameHeader];
        size_t n = proto::write_frame_header(
            header, in_message_ ? proto::Opcode::continuation : opcode, last, false, piece.size());
        queue_.append(pool_, header, n);
        queue_.append(pool_, piece);
        in_message_ = !last;
    }

    // Queues raw bytes (HTTP responses before any upgrade).
    void send_raw(std::string_view bytes) { queue_.append(pool_, bytes.data(), bytes.size()); }

  private:
    io::OutQueue& queue_;
    io::ChunkPool& pool_;
    bool& in_message_;
    LoopCompression* compression_;
    CompressionSlot* slot_;
};

}  // namespace wsgate::ws
