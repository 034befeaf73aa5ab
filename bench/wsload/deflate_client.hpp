#pragma once
// permessage-deflate from the client's side (RFC 7692): the offer wsload sends and
// the check of the server's answer. Pure functions; no sockets, no zlib streams.

#include <cstdint>
#include <string>
#include <string_view>

#include "proto/deflate_negotiation.hpp"

namespace wsgate::bench {

// What wsload offers. client_max_window_bits is always offered (RFC 7692
// §7.1.2.2: it tells the server the client can keep to any window it is told,
// so a server that limits the client's window can still accept).
struct DeflateOffer {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    std::uint8_t server_max_window_bits = 0;  // 0: not offered; else 8..15
    std::uint8_t client_max_window_bits = 0;  // 0: offered without a value; else 8..15
};

// Parses --deflate-params: any of "server_no_context_takeover",
// "client_no_context_takeover", "server_max_window_bits=N",
// "client_max_window_bits=N" (N 8..15), separated by ';' with optional spaces.
// False on an unknown or repeated name, a missing or extra value, or a bad N.
bool parse_deflate_params(std::string_view text, DeflateOffer& out);

// The Sec-WebSocket-Extensions value for `offer`, e.g.
// "permessage-deflate; client_max_window_bits; server_no_context_takeover".
std::string deflate_offer_value(const DeflateOffer& offer);

enum class DeflateAnswer {
    kNone,      // no extension in the response: the server declined, no compression
    kAccepted,  // one valid permessage-deflate element; `agreed` holds its parameters
    kInvalid,   // the client must Fail the WebSocket Connection (RFC 7692 §7, RFC 6455 §4.1)
};

// Judges the server's Sec-WebSocket-Extensions value (all lines joined with ", ";
// empty when absent) against what was offered (`offer` null: nothing offered).
// Invalid: a syntax error; any extension when none was offered; anything but
// exactly one permessage-deflate element; a parameter that is unknown,
// repeated, valueless where a value is required or valued where none belongs;
// a window value that is not a decimal 8..15 without leading zeros;
// client_max_window_bits above the offered value; server_max_window_bits
// missing or above the offered value when it was offered (§7.1.2.1);
// server_no_context_takeover missing when it was offered (§7.1.1.1).
// The server may add server_no_context_takeover, client_no_context_takeover and
// server_max_window_bits unasked (§7.1.1.1, §7.1.1.2, §7.1.2.1).
// On kAccepted, `agreed` is what both sides must keep to: absent window
// parameters mean 15; client_no_context_takeover is set when either side named it.
DeflateAnswer check_deflate_answer(std::string_view extensions, const DeflateOffer* offer,
                                   proto::DeflateAgreement& agreed);

}  // namespace wsgate::bench
