#include "proto/upgrade_request.hpp"

#include <array>
#include <bit>

#include "proto/case_folded_literal.hpp"
#include "proto/http_token.hpp"

namespace wsgate::proto {

namespace {

constexpr int kBadRequest = 400;
constexpr int kMethodNotAllowed = 405;
constexpr int kUpgradeRequired = 426;

constexpr std::array<bool, 256> make_base64_table() {
    std::array<bool, 256> table{};
    for (char c :
         std::string_view("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")) {
        table[static_cast<unsigned char>(c)] = true;
    }
    return table;
}

// RFC 4648 §4 alphabet.
constexpr std::array<bool, 256> kBase64Table = make_base64_table();

bool is_base64_char(char c) {
    return kBase64Table[static_cast<unsigned char>(c)];
}

constexpr CaseFoldedLiteral kWebSocketToken("websocket");
constexpr CaseFoldedLiteral kUpgradeToken("upgrade");

// True when one of the `lines` of `request` lists `token` (several lines of a
// list header form one list, RFC 9110 §5.3). A value that is exactly the
// token, as browsers send it, is recognised without splitting the list.
template <size_t N>
bool lines_list_token(const HttpRequest& request, HeaderLineSet lines,
                      const CaseFoldedLiteral<N>& token, std::string_view lower_token) {
    for (; lines != 0; lines &= lines - 1) {
        std::string_view value = request.headers[std::countr_zero(lines)].value;
        if (token.equals(value) || list_contains_token(value, lower_token)) return true;
    }
    return false;
}

}  // namespace

bool is_valid_websocket_key(std::string_view key) {
    if (key.size() != kWebSocketKeyLength) return false;
    constexpr size_t kDataChars = kWebSocketKeyLength - 2;
    for (size_t i = 0; i < kDataChars; ++i) {
        if (!is_base64_char(key[i])) return false;
    }
    return key[kDataChars] == '=' && key[kDataChars + 1] == '=';
}

bool is_upgrade_request(const HttpRequest& request) {
    return (request.lines(KnownHeader::upgrade) | request.lines(KnownHeader::sec_websocket_key)) !=
           0;
}

HandshakeError validate_upgrade(const HttpRequest& request, UpgradeRequest& out) {
    if (request.method != "GET") return {kMethodNotAllowed, "WebSocket upgrade needs GET"};
    if (request.minor_version < 1) return {kBadRequest, "WebSocket upgrade needs HTTP/1.1"};
    if (!request.has_one(KnownHeader::host)) {
        return {kBadRequest, "exactly one Host header required"};
    }
    if (!lines_list_token(request, request.lines(KnownHeader::upgrade), kWebSocketToken,
                          "websocket")) {
        return {kBadRequest, "Upgrade: websocket required"};
    }
    if (!lines_list_token(request, request.lines(KnownHeader::connection), kUpgradeToken,
                          "upgrade")) {
        return {kBadRequest, "Connection: Upgrade required"};
    }
    if (!request.has_one(KnownHeader::sec_websocket_version) ||
        request.first_value(KnownHeader::sec_websocket_version) != kWebSocketVersion) {
        return {kUpgradeRequired, "unsupported Sec-WebSocket-Version"};
    }
    if (!request.has_one(KnownHeader::sec_websocket_key)) {
        return {kBadRequest, "exactly one Sec-WebSocket-Key required"};
    }
    std::string_view key = request.first_value(KnownHeader::sec_websocket_key);
    if (!is_valid_websocket_key(key)) return {kBadRequest, "invalid Sec-WebSocket-Key"};

    out.target = request.target;
    out.host = request.first_value(KnownHeader::host);
    out.origin = request.first_value(KnownHeader::origin);
    out.key = key;
    out.protocols = request.first_value(KnownHeader::sec_websocket_protocol);
    // Every Sec-WebSocket-Extensions line, in order, as one list (RFC 9110 §5.3).
    out.extensions.count = 0;
    for (HeaderLineSet lines = request.lines(KnownHeader::sec_websocket_extensions); lines != 0;
         lines &= lines - 1) {
        if (!parse_extension_list(request.headers[std::countr_zero(lines)].value, out.extensions)) {
            out.extensions.count = 0;
            break;
        }
    }
    return {};
}

}  // namespace wsgate::proto
