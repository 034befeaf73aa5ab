#include "proto/deflate_negotiation.hpp"

#include <algorithm>
#include <string_view>

#include "proto/http_token.hpp"

namespace wsgate::proto {

namespace {

// Extension parameters of RFC 7692 §7.1.
constexpr std::string_view kServerNoContextTakeover = "server_no_context_takeover";
constexpr std::string_view kClientNoContextTakeover = "client_no_context_takeover";
constexpr std::string_view kServerMaxWindowBits = "server_max_window_bits";
constexpr std::string_view kClientMaxWindowBits = "client_max_window_bits";

// What one offer asks for, after its parameters were checked.
struct ParsedOffer {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    bool has_server_max_window_bits = false;
    bool has_client_max_window_bits = false;
    uint8_t server_max_window_bits = kMaxWindowBits;
    uint8_t client_max_window_bits = kMaxWindowBits;  // kMaxWindowBits when offered without value
};

// RFC 7692 §7.1.2.1/§7.1.2.2: "a decimal integer value without leading
// zeroes between 8 and 15, inclusive". 0 when the text is not one.
uint8_t parse_window_bits(std::string_view v) {
    if (v.empty() || v.size() > 2 || v[0] == '0') return 0;
    unsigned n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return 0;
        n = n * 10 + static_cast<unsigned>(c - '0');
    }
    return (n >= kMinWindowBits && n <= kMaxWindowBits) ? static_cast<uint8_t>(n) : 0;
}

// False when RFC 7692 §7.1 requires declining the offer: unknown
// parameter, invalid value, or the same parameter twice.
bool parse_offer(const ExtensionOffer& offer, ParsedOffer& out) {
    bool seen_snct = false, seen_cnct = false;
    for (size_t i = 0; i < offer.param_count; ++i) {
        const ExtensionParam& p = offer.params[i];
        if (ascii_iequals(p.name, kServerNoContextTakeover)) {
            if (seen_snct || p.has_value) return false;
            seen_snct = out.server_no_context_takeover = true;
        } else if (ascii_iequals(p.name, kClientNoContextTakeover)) {
            if (seen_cnct || p.has_value) return false;
            seen_cnct = out.client_no_context_takeover = true;
        } else if (ascii_iequals(p.name, kServerMaxWindowBits)) {
            // The value is required here (§7.1.2.1).
            if (out.has_server_max_window_bits || !p.has_value) return false;
            out.server_max_window_bits = parse_window_bits(p.value);
            if (out.server_max_window_bits == 0) return false;
            out.has_server_max_window_bits = true;
        } else if (ascii_iequals(p.name, kClientMaxWindowBits)) {
            // Without a value it only says the client supports the parameter.
            if (out.has_client_max_window_bits) return false;
            if (p.has_value) {
                out.client_max_window_bits = parse_window_bits(p.value);
                if (out.client_max_window_bits == 0) return false;
            }
            out.has_client_max_window_bits = true;
        } else {
            return false;
        }
    }
    return true;
}

// False when this server cannot honour the offer with `config`.
bool agree(const ParsedOffer& offer, const DeflateConfig& config, DeflateAgreement& out) {
    // The server's own window: 8 runs as 9 (zlib). A client that limits the
    // server to 8 cannot be served by zlib: decline (§7.1.2.1 lets the
    // server only go lower than the offer, never higher).
    uint8_t server_bits = std::max(config.server_max_window_bits, kMinZlibWindowBits);
    if (offer.has_server_max_window_bits) {
        if (offer.server_max_window_bits < kMinZlibWindowBits) return false;
        server_bits = std::min(server_bits, offer.server_max_window_bits);
    }
    // §7.1.2.2: the server may limit the client's window only when the offer
    // carried client_max_window_bits, and only to the offered value or less.
    uint8_t client_bits = kMaxWindowBits;
    if (offer.has_client_max_window_bits) {
        client_bits = std::min(config.client_max_window_bits, offer.client_max_window_bits);
    } else if (config.client_max_window_bits < kMaxWindowBits) {
        return false;
    }
    out.server_no_context_takeover =
        offer.server_no_context_takeover || config.server_no_context_takeover;
    // An offered client_no_context_takeover is only a hint (§7.1.1.2);
    // echoing it makes it binding, so the inflater may drop its window
    // between messages.
    out.client_no_context_takeover =
        offer.client_no_context_takeover || config.client_no_context_takeover;
    out.server_max_window_bits = server_bits;
    out.client_max_window_bits = client_bits;
    return true;
}

// Appends to a fixed buffer; `ok` turns false once something did not fit.
struct Writer {
    char* out;
    size_t cap;
    size_t len = 0;
    bool ok = true;

    void put(std::string_view s) {
        if (!ok || cap - len < s.size()) {
            ok = false;
            return;
        }
        std::copy(s.begin(), s.end(), out + len);
        len += s.size();
    }
    void put_bits(uint8_t bits) {
        char digits[2];
        size_t n = 0;
        if (bits >= 10) digits[n++] = static_cast<char>('0' + bits / 10);
        digits[n++] = static_cast<char>('0' + bits % 10);
        put(std::string_view(digits, n));
    }
};

// Parameter order follows RFC 7692 §7.1's presentation; each is sent only
// when it says something (a 15-bit window is the default).
size_t write_response(const DeflateAgreement& a, bool offered_server_bits, char* out, size_t cap) {
    Writer w{out, cap};
    w.put(kPermessageDeflate);
    if (a.server_no_context_takeover) {
        w.put("; ");
        w.put(kServerNoContextTakeover);
    }
    if (a.client_no_context_takeover) {
        w.put("; ");
        w.put(kClientNoContextTakeover);
    }
    // §7.1.2.1: an offered server_max_window_bits must be answered.
    if (offered_server_bits || a.server_max_window_bits < kMaxWindowBits) {
        w.put("; ");
        w.put(kServerMaxWindowBits);
        w.put("=");
        w.put_bits(a.server_max_window_bits);
    }
    if (a.client_max_window_bits < kMaxWindowBits) {
        w.put("; ");
        w.put(kClientMaxWindowBits);
        w.put("=");
        w.put_bits(a.client_max_window_bits);
    }
    return w.ok ? w.len : 0;
}

}  // namespace

bool valid_deflate_config(const DeflateConfig& c) {
    auto window_ok = [](uint8_t bits) { return bits >= kMinWindowBits && bits <= kMaxWindowBits; };
    return window_ok(c.server_max_window_bits) && window_ok(c.client_max_window_bits) &&
           c.level >= 0 && c.level <= 9 && c.mem_level >= 1 && c.mem_level <= MAX_MEM_LEVEL;
}

DeflateNegotiation negotiate_permessage_deflate(const ExtensionOffers& offers,
                                                const DeflateConfig& config, char* out,
                                                size_t cap) {
    DeflateNegotiation result;
    if (!config.enabled || !valid_deflate_config(config)) return result;
    for (size_t i = 0; i < offers.count && i < offers.offers.size(); ++i) {
        const ExtensionOffer& offer = offers.offers[i];
        if (!ascii_iequals(offer.name, kPermessageDeflate)) continue;
        ParsedOffer parsed;
        DeflateAgreement agreed;
        if (!parse_offer(offer, parsed) || !agree(parsed, config, agreed)) continue;
        // Built on the stack first so `out` is untouched when it is too small.
        char value[kMaxDeflateResponseLength];
        const size_t length =
            write_response(agreed, parsed.has_server_max_window_bits, value, sizeof(value));
        if (length == 0 || length > cap) return result;
        std::copy(value, value + length, out);
        result.accepted = true;
        result.agreed = agreed;
        result.offer_index = i;
        result.response_length = length;
        return result;
    }
    return result;
}

DeflaterSettings deflater_settings(const DeflateAgreement& agreed, const DeflateConfig& config) {
    DeflaterSettings s;
    s.window_bits = std::max(agreed.server_max_window_bits, kMinZlibWindowBits);
    s.mem_level = config.mem_level;
    s.level = config.level;
    s.no_context_takeover = agreed.server_no_context_takeover;
    return s;
}

InflaterSettings inflater_settings(const DeflateAgreement& agreed, const DeflateConfig& config,
                                   uint64_t max_message_bytes) {
    InflaterSettings s;
    s.window_bits = agreed.client_max_window_bits;
    s.no_context_takeover = agreed.client_no_context_takeover;
    s.max_message_bytes = max_message_bytes;
    s.max_compressed_bytes = max_message_bytes;
    s.max_ratio = config.max_inflate_ratio;
    return s;
}

}  // namespace wsgate::proto
