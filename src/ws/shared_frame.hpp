// A WebSocket message serialised once (RFC 6455 §5.2 header + payload, one
// unfragmented, unmasked frame) into SharedBytes, to be queued by reference
// on any number of the loop's connections: a publication to 10,000
// subscribers is one allocation and one copy of the payload, not 10,000.
//
// The frame is sent uncompressed (RSV1 clear) also to connections that
// negotiated permessage-deflate: RFC 7692 §6 lets each message choose.
#pragma once

#include <span>

#include "io/shared_bytes.hpp"
#include "proto/opcode.hpp"

namespace wsgate::ws {

// A whole text or binary (or control) frame carrying `payload`, with FIN
// set; one reference held by the returned handle.
io::SharedBytesRef make_shared_frame(proto::Opcode opcode, std::span<const uint8_t> payload);

}  // namespace wsgate::ws
