#include "deflate_client.hpp"

#include <algorithm>
#include <cctype>

#include "proto/extension_offer.hpp"

namespace wsgate::bench {
namespace {

constexpr std::string_view kServerNoContext = "server_no_context_takeover";
constexpr std::string_view kClientNoContext = "client_no_context_takeover";
constexpr std::string_view kServerWindow = "server_max_window_bits";
constexpr std::string_view kClientWindow = "client_max_window_bits";

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// RFC 7692 §7.1.2.1/§7.1.2.2: 1*DIGIT, 8..15, no leading zeros. 0 when invalid.
std::uint8_t window_value(std::string_view v) {
    if (v.empty() || v.size() > 2 || v.front() == '0') return 0;
    unsigned n = 0;
    for (const char ch : v) {
        if (ch < '0' || ch > '9') return 0;
        n = n * 10 + static_cast<unsigned>(ch - '0');
    }
    return n >= proto::kMinWindowBits && n <= proto::kMaxWindowBits ? static_cast<std::uint8_t>(n)
                                                                    : 0;
}

}  // namespace

bool parse_deflate_params(std::string_view text, DeflateOffer& out) {
    // Parameters of one offer only: a ',' would start another element.
    if (text.find(',') != std::string_view::npos) return false;
    // Reuse the server's extension grammar by parsing it as an offer's parameters.
    std::string list(proto::kPermessageDeflate);
    if (!text.empty()) {
        list += "; ";
        list += text;
    }
    proto::ExtensionOffers offers;
    if (!proto::parse_extension_list(list, offers) || offers.count != 1) return false;
    const proto::ExtensionOffer& o = offers.offers[0];
    DeflateOffer result;
    bool seen[4] = {};
    for (std::size_t k = 0; k < o.param_count; ++k) {
        const proto::ExtensionParam& p = o.params[k];
        int which = -1;
        if (iequals(p.name, kServerNoContext)) {
            which = 0;
            result.server_no_context_takeover = true;
        } else if (iequals(p.name, kClientNoContext)) {
            which = 1;
            result.client_no_context_takeover = true;
        } else if (iequals(p.name, kServerWindow)) {
            which = 2;
            result.server_max_window_bits = window_value(p.value);
            if (result.server_max_window_bits == 0) return false;
        } else if (iequals(p.name, kClientWindow)) {
            which = 3;
            result.client_max_window_bits = window_value(p.value);
            if (result.client_max_window_bits == 0) return false;
        } else {
            return false;
        }
        if (seen[which]) return false;
        seen[which] = true;
        const bool wants_value = which >= 2;
        if (p.has_value != wants_value) return false;
    }
    out = result;
    return true;
}

std::string deflate_offer_value(const DeflateOffer& offer) {
    std::string v(proto::kPermessageDeflate);
    v += "; ";
    v += kClientWindow;
    // Appended piece by piece: g++ 12 warns falsely (-Wrestrict) on "=" + to_string().
    if (offer.client_max_window_bits != 0) {
        v += '=';
        v += std::to_string(offer.client_max_window_bits);
    }
    if (offer.server_max_window_bits != 0) {
        v += "; ";
        v += kServerWindow;
        v += '=';
        v += std::to_string(offer.server_max_window_bits);
    }
    if (offer.server_no_context_takeover) {
        v += "; ";
        v += kServerNoContext;
    }
    if (offer.client_no_context_takeover) {
        v += "; ";
        v += kClientNoContext;
    }
    return v;
}

DeflateAnswer check_deflate_answer(std::string_view extensions, const DeflateOffer* offer,
                                   proto::DeflateAgreement& agreed) {
    proto::ExtensionOffers answer;
    if (!proto::parse_extension_list(extensions, answer)) return DeflateAnswer::kInvalid;
    if (answer.count == 0) return DeflateAnswer::kNone;
    // RFC 6455 §4.1: an extension the client did not ask for fails the connection;
    // RFC 7692 §7: an accepted offer is answered with one element.
    if (offer == nullptr || answer.count != 1) return DeflateAnswer::kInvalid;
    const proto::ExtensionOffer& e = answer.offers[0];
    if (!iequals(e.name, proto::kPermessageDeflate)) return DeflateAnswer::kInvalid;

    proto::DeflateAgreement result;
    result.client_no_context_takeover = offer->client_no_context_takeover;
    bool seen_server_no_context = false, seen_client_no_context = false;
    bool seen_server_window = false, seen_client_window = false;
    for (std::size_t k = 0; k < e.param_count; ++k) {
        const proto::ExtensionParam& p = e.params[k];
        if (iequals(p.name, kServerNoContext)) {
            if (seen_server_no_context || p.has_value) return DeflateAnswer::kInvalid;
            seen_server_no_context = true;
            result.server_no_context_takeover = true;
        } else if (iequals(p.name, kClientNoContext)) {
            if (seen_client_no_context || p.has_value) return DeflateAnswer::kInvalid;
            seen_client_no_context = true;
            result.client_no_context_takeover = true;
        } else if (iequals(p.name, kServerWindow)) {
            const std::uint8_t bits = p.has_value ? window_value(p.value) : 0;
            if (seen_server_window || bits == 0) return DeflateAnswer::kInvalid;
            if (offer->server_max_window_bits != 0 && bits > offer->server_max_window_bits)
                return DeflateAnswer::kInvalid;
            seen_server_window = true;
            result.server_max_window_bits = bits;
        } else if (iequals(p.name, kClientWindow)) {
            // §7.1.2.2: in a response it always carries a value, at most the offered one.
            const std::uint8_t bits = p.has_value ? window_value(p.value) : 0;
            if (seen_client_window || bits == 0) return DeflateAnswer::kInvalid;
            if (offer->client_max_window_bits != 0 && bits > offer->client_max_window_bits)
                return DeflateAnswer::kInvalid;
            seen_client_window = true;
            result.client_max_window_bits = bits;
        } else {
            return DeflateAnswer::kInvalid;
        }
    }
    if (offer->server_no_context_takeover && !seen_server_no_context)
        return DeflateAnswer::kInvalid;
    if (offer->server_max_window_bits != 0 && !seen_server_window) return DeflateAnswer::kInvalid;
    // Without a client_max_window_bits in the response the client keeps to what it
    // offered itself, or 15.
    if (!seen_client_window && offer->client_max_window_bits != 0)
        result.client_max_window_bits = offer->client_max_window_bits;
    agreed = result;
    return DeflateAnswer::kAccepted;
}

}  // namespace wsgate::bench
