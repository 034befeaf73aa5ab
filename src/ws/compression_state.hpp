// A connection's permessage-deflate state (RFC 7692), kept out of the fixed
// Connection record: the record holds one pointer-sized CompressionSlot.
//
// Memory by phase (what a million mostly idle connections cost):
//   not negotiated                          slot == 0, nothing else
//   negotiated, no message in flight        the agreement packed into the
//     (and, with no_context_takeover on a   slot itself; no object, no zlib
//     side, that side's stream returned     memory
//     to the thread's pool)
//   a compressed message in flight, or a    a CompressionState object, plus
//     context-takeover window to keep       zlib streams as each side needs
#pragma once

#include <cstdint>

#include "proto/deflate_negotiation.hpp"
#include "proto/message_deflater.hpp"
#include "proto/message_inflater.hpp"
#include "proto/utf8.hpp"

namespace wsgate::ws {

struct CompressionState {
    proto::DeflateAgreement agreed;
    proto::MessageDeflater deflater;  // server → client messages
    proto::MessageInflater inflater;  // client → server messages
    // Incoming compressed text is validated after inflating (RFC 6455 §8.1);
    // the frame decoder cannot see the plain bytes.
    proto::Utf8Validator utf8;
    bool receiving = false;      // the incoming message is compressed and not yet complete
    bool validate_utf8 = false;  // ... and is text
    bool sending = false;        // the outgoing message is compressed and not yet complete
    bool send_failed = false;    // zlib failed while compressing: fail the connection (1011)
    // Whether each side's stream is counted in the loop's stream budget
    // (LoopCompression keeps these equal to holds_stream()).
    bool inflate_stream_counted = false;
    bool deflate_stream_counted = false;

    // Nothing in flight and no zlib memory held: the object can go and the
    // agreement alone be kept in the slot.
    bool parkable() const {
        return !receiving && !sending && !send_failed && deflater.memory_bytes() == 0 &&
               inflater.memory_bytes() == 0;
    }
};

// One machine word: 0 (not negotiated), an agreement packed with its low bit
// set (negotiated, no state object), or a CompressionState* (objects are at
// least 2-byte aligned, so its low bit is clear). The slot does not own the
// object: LoopCompression creates, parks and frees it.
class CompressionSlot {
  public:
    bool negotiated() const { return bits_ != 0; }
    CompressionState* state() const {
        return (bits_ & kPackedTag) == 0 ? reinterpret_cast<CompressionState*>(bits_) : nullptr;
    }
    // The agreement, from the packed form or the state object. Only when negotiated().
    proto::DeflateAgreement agreement() const {
        if (CompressionState* s = state()) return s->agreed;
        proto::DeflateAgreement a;
        a.server_no_context_takeover = (bits_ & kServerNoTakeover) != 0;
        a.client_no_context_takeover = (bits_ & kClientNoTakeover) != 0;
        a.server_max_window_bits =
            static_cast<uint8_t>(proto::kMinWindowBits + ((bits_ >> kServerBitsShift) & kBitsMask));
        a.client_max_window_bits =
            static_cast<uint8_t>(proto::kMinWindowBits + ((bits_ >> kClientBitsShift) & kBitsMask));
        return a;
    }

    // Keeps only the agreement (window bits 8..15).
    void set_agreement(const proto::DeflateAgreement& a) {
        bits_ = kPackedTag | (a.server_no_context_takeover ? kServerNoTakeover : 0) |
                (a.client_no_context_takeover ? kClientNoTakeover : 0) |
                (uintptr_t{static_cast<uint8_t>(a.server_max_window_bits - proto::kMinWindowBits)}
                 << kServerBitsShift) |
                (uintptr_t{static_cast<uint8_t>(a.client_max_window_bits - proto::kMinWindowBits)}
                 << kClientBitsShift);
    }
    void set_state(CompressionState* s) { bits_ = reinterpret_cast<uintptr_t>(s); }
    void clear() { bits_ = 0; }

  private:
    static constexpr uintptr_t kPackedTag = 1;
    static constexpr uintptr_t kServerNoTakeover = 2;
    static constexpr uintptr_t kClientNoTakeover = 4;
    static constexpr unsigned kServerBitsShift = 3;
    static constexpr unsigned kClientBitsShift = 6;
    static constexpr uintptr_t kBitsMask = 7;  // window bits 8..15 stored as 0..7

    uintptr_t bits_ = 0;
};

static_assert(sizeof(CompressionSlot) == sizeof(void*), "the Connection record holds one word");
static_assert(alignof(CompressionState) >= 2,
              "the slot's low bit tells a pointer from a packed agreement");

}  // namespace wsgate::ws
