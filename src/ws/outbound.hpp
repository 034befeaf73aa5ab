// What an application may send on a connection: message pieces (each becomes
// one frame) and, before the upgrade, raw HTTP response bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "io/out_queue.hpp"
#include "proto/frame_writer.hpp"
#include "proto/opcode.hpp"
#include "ws/loop_compression.hpp"
#include "ws/loop_metrics.hpp"

namespace wsgate::ws {

// Zero-copy echo: the piece being delivered lies in a receive buffer that
// the backend can lend to the output queue instead of the bytes being copied.
struct LendOffer {
    uint8_t* data = nullptr;  // the piece's first byte
    size_t headroom = 0;      // bytes right before `data` free to overwrite (a parsed header)
    uint32_t (*lend)(void* context) = nullptr;  // holds the buffer: its id, or kNoLend
    void* context = nullptr;
};
inline constexpr uint32_t kNoLend = UINT32_MAX;
// Buffers one connection may hold lent (one slow reader must not drain the
// receive ring); beyond, pieces are copied. The backend also caps what all
// connections of a loop hold together (UringBackend::hold_buffer).
inline constexpr uint32_t kMaxLentChunks = 8;

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
        if (counts_ != nullptr) count(opcode, piece.size(), last);
        if (compression_ != nullptr &&
            compression_->send_piece(*slot_, queue_, pool_, in_message_, opcode, piece, last)) {
            return;
        }
        if (piece.empty() && !last) return;
        uint8_t header[proto::kMaxServerFrameHeader];
        size_t n = proto::write_frame_header(
            header, in_message_ ? proto::Opcode::continuation : opcode, last, false, piece.size());
        if (!(offer_ != nullptr && send_lent(piece, header, n))) {
            queue_.append(pool_, header, n);
            queue_.append(pool_, piece);
        }
        in_message_ = !last;
    }

    // The next send_message_piece of exactly offer.data may refer to the
    // receive buffer instead of copying (nullptr: always copy).
    void set_lend_offer(const LendOffer* offer) { offer_ = offer; }

    // Messages and payload bytes sent are counted here (nullptr: not counted).
    void set_counts(MessageCounts* counts) { counts_ = counts; }

    // Queues raw bytes (HTTP responses before any upgrade).
    void send_raw(std::string_view bytes) { queue_.append(pool_, bytes.data(), bytes.size()); }

  private:
    void count(proto::Opcode opcode, size_t bytes, bool last) {
        MessageKind kind = message_kind(opcode);
        counts_->count_bytes(kind, bytes);
        if (last) counts_->count_message(kind);
    }

    // Queues header + piece by reference to the lent receive buffer: one
    // contiguous iovec when the header fits in the headroom (written over
    // the client's parsed header), else the header copied and the piece
    // referenced. False: not lendable, nothing queued.
    bool send_lent(std::span<const uint8_t> piece, const uint8_t* header, size_t n) {
        if (piece.data() != offer_->data || queue_.lent_chunks() >= kMaxLentChunks) return false;
        uint32_t id = offer_->lend(offer_->context);
        if (id == kNoLend) return false;
        if (offer_->headroom >= n) {
            uint8_t* start = offer_->data - n;
            std::memcpy(start, header, n);
            queue_.append_lent(pool_, start, n + piece.size(), id);
        } else {
            queue_.append(pool_, header, n);
            queue_.append_lent(pool_, offer_->data, piece.size(), id);
        }
        return true;
    }

    io::OutQueue& queue_;
    io::ChunkPool& pool_;
    bool& in_message_;
    LoopCompression* compression_;
    CompressionSlot* slot_;
    const LendOffer* offer_ = nullptr;
    MessageCounts* counts_ = nullptr;
};

}  // namespace wsgate::ws
