#include "proto/extension_offer.hpp"

#include "proto/http_token.hpp"

namespace wsgate::proto {

namespace {

constexpr std::string_view kExtensionsHeader = "Sec-WebSocket-Extensions";

// Reads a token at the front of s; empty when s does not start with one.
std::string_view take_token(std::string_view& s) {
    size_t n = 0;
    while (n < s.size() && is_tchar(s[n]))
        ++n;
    std::string_view token = s.substr(0, n);
    s.remove_prefix(n);
    return token;
}

void skip_ows(std::string_view& s) {
    while (!s.empty() && is_ows(s.front()))
        s.remove_prefix(1);
}

// token / quoted-string whose content is a token (see header comment).
bool take_param_value(std::string_view& s, std::string_view& value) {
    if (!s.empty() && s.front() == '"') {
        s.remove_prefix(1);
        value = take_token(s);
        if (value.empty() || s.empty() || s.front() != '"') return false;
        s.remove_prefix(1);
        return true;
    }
    value = take_token(s);
    return !value.empty();
}

}  // namespace

bool parse_extension_list(std::string_view s, ExtensionOffers& out) {
    while (true) {
        skip_ows(s);
        if (s.empty()) return true;
        if (s.front() == ',') {  // empty list element
            s.remove_prefix(1);
            continue;
        }
        if (out.count == kMaxExtensionOffers) return false;
        ExtensionOffer& offer = out.offers[out.count];
        offer.param_count = 0;
        offer.name = take_token(s);
        if (offer.name.empty()) return false;
        while (true) {
            skip_ows(s);
            if (s.empty() || s.front() != ';') break;
            s.remove_prefix(1);
            skip_ows(s);
            if (offer.param_count == kMaxExtensionParams) return false;
            ExtensionParam& param = offer.params[offer.param_count];
            param = {};
            param.name = take_token(s);
            if (param.name.empty()) return false;
            skip_ows(s);
            if (!s.empty() && s.front() == '=') {
                s.remove_prefix(1);
                skip_ows(s);
                if (!take_param_value(s, param.value)) return false;
                param.has_value = true;
            }
            ++offer.param_count;
        }
        ++out.count;
        if (s.empty()) return true;
        if (s.front() != ',') return false;
        s.remove_prefix(1);
    }
}

bool parse_extension_offers(const HttpRequest& request, ExtensionOffers& out) {
    out.count = 0;
    for (size_t i = 0; i < request.header_count; ++i) {
        const HttpHeader& h = request.headers[i];
        if (!ascii_iequals(h.name, kExtensionsHeader)) continue;
        if (!parse_extension_list(h.value, out)) return false;
    }
    return true;
}

}  // namespace wsgate::proto
