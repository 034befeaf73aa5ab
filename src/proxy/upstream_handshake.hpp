// The WebSocket client side of a `frames` relay (RFC 6455 §4.1): the
// handshake key wsgate sends upstream, the check of the upstream's answer,
// and the masking keys of the frames it sends (§5.3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proto/accept_key.hpp"

namespace wsgate::proxy {

// RFC 6455 §4.1: base64 of a random 16-byte nonce.
inline constexpr size_t kWebSocketKeyLength = 24;

// A fresh Sec-WebSocket-Key (getrandom). False when no randomness was had
// (then the handshake must not go out).
bool make_websocket_key(char out[kWebSocketKeyLength]);

// The largest upstream response head taken (as a server takes request heads).
inline constexpr size_t kMaxUpstreamHeadBytes = 8192;

struct UpstreamAnswer {
    enum class Kind : uint8_t {
        incomplete,  // no end of head yet (and under kMaxUpstreamHeadBytes)
        switching,   // a valid 101 for our key: WebSocket from head_length on
        refused,     // another status (the client gets it as it came)
        invalid,     // not HTTP, a head too large, or a 101 that is not the
                     // answer to our handshake (RFC 6455 §4.1: the client
                     // fails the connection): `reason` says why
    };
    Kind kind = Kind::incomplete;
    int status = 0;
    size_t head_length = 0;     // bytes of the head, its empty line included
    std::string_view protocol;  // switching: the subprotocol the upstream chose
    std::string_view reason;
};

// Reads the upstream's response head at the start of `bytes` (RFC 9112 §4,
// §6). A 101 is checked as RFC 6455 §4.1 asks a client to: Upgrade
// websocket, Connection upgrade, Sec-WebSocket-Accept the accept value of
// `key`, no Sec-WebSocket-Extensions (none were offered). Views point into
// `bytes`.
UpstreamAnswer read_upstream_answer(std::string_view bytes, std::string_view key);

// Masking keys for frames sent upstream (RFC 6455 §5.3: a fresh key per
// frame from a strong source of entropy): taken from getrandom in batches,
// so a frame costs no system call.
class MaskKeySource {
  public:
    uint32_t next() {
        if (next_ == kBatch) refill();
        return keys_[next_++];
    }

  private:
    static constexpr size_t kBatch = 256;
    void refill();
    uint32_t keys_[kBatch];
    size_t next_ = kBatch;
};

// Writes the header of a masked frame (client to server, RFC 6455 §5.2):
// minimal length encoding, MASK set, then `key`; at most kMaxClientFrameHeader
// bytes. Returns its length. The payload is XORed with `key` separately
// (proto::unmask: masking and unmasking are the same operation).
inline constexpr size_t kMaxClientFrameHeader = 14;
size_t write_masked_frame_header(uint8_t* out, uint8_t opcode, bool fin, uint64_t payload_length,
                                 uint32_t key);

}  // namespace wsgate::proxy
