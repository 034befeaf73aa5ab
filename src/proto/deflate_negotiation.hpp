// permessage-deflate negotiation, server side (RFC 7692 §5, §7.1): picks the
// first acceptable offer and writes the Sec-WebSocket-Extensions response
// value into caller memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include "proto/extension_offer.hpp"
#include "proto/message_deflater.hpp"
#include "proto/message_inflater.hpp"
#include "proto/zstream.hpp"

namespace wsgate::proto {

inline constexpr std::string_view kPermessageDeflate = "permessage-deflate";

struct DeflateConfig {
    bool enabled = false;
    // Window the server compresses with, 8..15. zlib cannot deflate raw data
    // with an 8-bit window, so 8 runs (and is announced) as 9.
    uint8_t server_max_window_bits = kMaxWindowBits;
    // Largest window the server lets the client use, 8..15. Below 15 the
    // server needs the client to have offered client_max_window_bits
    // (RFC 7692 §7.1.2.2); an offer without it is declined.
    uint8_t client_max_window_bits = kMaxWindowBits;
    bool server_no_context_takeover = false;  // always sent when true
    bool client_no_context_takeover = false;  // always sent when true
    int8_t level = kDefaultDeflateLevel;      // zlib 0..9
    uint8_t mem_level = kDefaultMemLevel;     // zlib 1..9
    // Messages shorter than this are sent uncompressed (RSV1 clear; RFC 7692
    // §6 lets an endpoint compress any subset of its messages).
    size_t min_message_bytes = 64;
    // Inflating an incoming message may cost at most this many times its
    // compressed size once past the grace (InflaterSettings); 0: no bound.
    uint32_t max_inflate_ratio = kDefaultMaxInflateRatio;
};

// True when every field is in range (checked at start-up; negotiate()
// accepts nothing with an invalid config).
bool valid_deflate_config(const DeflateConfig& config);

// The "agreed parameters" of RFC 7692 §7: what the response announced.
struct DeflateAgreement {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    uint8_t server_max_window_bits = kMaxWindowBits;  // the server compresses with this window
    uint8_t client_max_window_bits = kMaxWindowBits;  // the client compresses with at most this
};

struct DeflateNegotiation {
    bool accepted = false;
    DeflateAgreement agreed;
    size_t offer_index = 0;      // which entry of ExtensionOffers was accepted
    size_t response_length = 0;  // bytes of the header value written to `out`
};

// Longest response value negotiate() can write.
inline constexpr size_t kMaxDeflateResponseLength = 128;

// Goes through `offers` in order and accepts the first permessage-deflate
// offer this server can honour (RFC 7692 §5.1, §7.1). An offer is declined
// (skipped, never an error) when it has an unknown parameter, a parameter
// twice, a value where none belongs, a window value that is not a decimal
// 8..15 without leading zeros, server_max_window_bits=8 (zlib cannot keep to
// a 256-byte window), or no client_max_window_bits while the config limits
// the client's window. When one is accepted, writes the response value
// (e.g. "permessage-deflate; client_max_window_bits=12") to out[0, cap) —
// nothing is allocated — and returns accepted with the agreement. Not
// accepted when config is disabled or invalid, no offer fits, or cap is
// smaller than the value (cap >= kMaxDeflateResponseLength always fits);
// `out` is then untouched.
// Names compare ASCII case-insensitively.
DeflateNegotiation negotiate_permessage_deflate(const ExtensionOffers& offers,
                                                const DeflateConfig& config, char* out, size_t cap);

// Settings for this connection's outgoing (server) and incoming (client)
// messages under an agreement. max_message_bytes bounds an incoming
// compressed message twice: as sent (compressed payload) and as inflated.
DeflaterSettings deflater_settings(const DeflateAgreement& agreed, const DeflateConfig& config);
InflaterSettings inflater_settings(const DeflateAgreement& agreed, const DeflateConfig& config,
                                   uint64_t max_message_bytes);

}  // namespace wsgate::proto
