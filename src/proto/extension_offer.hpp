// Sec-WebSocket-Extensions offers (RFC 6455 §9.1), parsed in place.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "proto/http_request.hpp"

namespace wsgate::proto {

inline constexpr size_t kMaxExtensionOffers = 8;
inline constexpr size_t kMaxExtensionParams = 8;

struct ExtensionParam {
    std::string_view name, value;  // value: view without the quotes of a quoted-string
    bool has_value = false;
};

struct ExtensionOffer {
    std::string_view name;
    std::array<ExtensionParam, kMaxExtensionParams> params;
    size_t param_count = 0;
};

struct ExtensionOffers {
    std::array<ExtensionOffer, kMaxExtensionOffers> offers;
    size_t count = 0;
};

// Parses every Sec-WebSocket-Extensions line of `request`, in order, as one
// list (RFC 9110 §5.3):
//   extension-list = 1#extension
//   extension      = token *( OWS ";" OWS param )
//   param          = token [ OWS "=" OWS ( token / quoted-string ) ]
// Empty list elements are skipped (RFC 9110 §5.6.1). RFC 6455 §9.1 requires a
// quoted value to be a token after unescaping; this parser accepts only quoted
// strings whose content already is a token (no backslash escapes), so the
// value view is the content between the quotes, never a copy.
// Returns false on a syntax error or more than kMaxExtensionOffers offers or
// kMaxExtensionParams params on one offer; `out` is then unspecified. A server
// treats false as "no usable extension offer" and completes the handshake
// without extensions — a malformed offer does not fail the handshake.
// Views point into the request's buffer.
bool parse_extension_offers(const HttpRequest& request, ExtensionOffers& out);

// The same grammar over one header value, appending to `out` (used above and
// by tests; same return contract).
bool parse_extension_list(std::string_view value, ExtensionOffers& out);

}  // namespace wsgate::proto
