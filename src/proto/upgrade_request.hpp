// The WebSocket opening handshake request checks (RFC 6455 §4.2.1).
#pragma once

#include <string_view>

#include "proto/extension_offer.hpp"
#include "proto/http_request.hpp"

namespace wsgate::proto {

inline constexpr size_t kWebSocketKeyLength = 24;  // base64 of 16 bytes, RFC 6455 §4.1
inline constexpr std::string_view kWebSocketVersion = "13";

struct UpgradeRequest {
    std::string_view target, host, origin, key;  // origin empty when absent
    std::string_view protocols;  // raw Sec-WebSocket-Protocol value (first header), comma list
    ExtensionOffers extensions;  // count 0 when absent or malformed (see extension_offer.hpp)
};

struct HandshakeError {
    int status = 0;  // 0 = valid
    std::string_view reason;
};

// True when the request asks for a WebSocket (has an Upgrade header or a
// Sec-WebSocket-Key); anything else is plain HTTP for the gateway's own endpoints.
bool is_upgrade_request(const HttpRequest& request);

// Checks a parsed request against RFC 6455 §4.2.1, in this order:
//   method GET (else 405); HTTP/1.1 or later (400); exactly one Host (400,
//   RFC 9112 §3.2); Upgrade lists the token "websocket" (400); Connection lists
//   "Upgrade" (400); exactly one Sec-WebSocket-Version, equal to "13" (else 426,
//   so the reply can name the version, RFC 6455 §4.4); exactly one
//   Sec-WebSocket-Key of 24 base64 characters ending in "==" (400).
// Token comparisons are case-insensitive over comma lists with other tokens.
// On success fills `out` (views into the request's buffer) and returns status 0.
// A malformed Sec-WebSocket-Extensions does not fail the handshake: out.extensions
// is then empty (RFC 6455 §9.1 offers are optional to accept).
HandshakeError validate_upgrade(const HttpRequest& request, UpgradeRequest& out);

// True when `key` is 24 base64 characters (RFC 4648 §4 alphabet) encoding 16
// bytes: 22 alphabet characters then "==". The 4 unused bits of the last
// character are not required to be zero.
bool is_valid_websocket_key(std::string_view key);

}  // namespace wsgate::proto
