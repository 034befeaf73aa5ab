// Close status codes (RFC 6455 §7.4).
#pragma once

#include <cstdint>

namespace wsgate::proto {

// Codes the server itself uses or must recognise (RFC 6455 §7.4.1). none (0)
// is not a wire code: it means "no error" in DecodeResult and "send a close
// frame without a payload" to write_close_frame.
enum class CloseCode : uint16_t {
    none = 0,
    normal = 1000,
    going_away = 1001,
    protocol_error = 1002,
    unsupported_data = 1003,
    no_status = 1005,  // never on the wire: reported when a close frame has no payload
    abnormal = 1006,   // never on the wire: the connection dropped without a close frame
    invalid_payload = 1007,
    policy_violation = 1008,
    message_too_big = 1009,
    mandatory_extension = 1010,
    internal_error = 1011,
    // IANA "WebSocket Close Code Number Registry" (RFC 6455 §11.7): the
    // server is overloaded and the client may reconnect later. Sent only.
    try_again_later = 1013,
};

// True when a peer may send `code` in a close frame: 1000-1003 and 1007-1011
// (defined by RFC 6455 §7.4.1, and not in the "MUST NOT be set" list 1004,
// 1005, 1006, 1015), or 3000-4999 (registered and private use, §7.4.2).
// Everything else, including the unassigned 1012-2999, fails the connection
// with 1002 (the server contract; Autobahn case 7.9.x expects exactly that).
bool is_valid_wire_close_code(uint16_t code);

}  // namespace wsgate::proto
