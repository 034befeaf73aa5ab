#include "proto/upgrade_request.hpp"

#include "proto/http_token.hpp"

namespace wsgate::proto {

namespace {

constexpr int kBadRequest = 400;
constexpr int kMethodNotAllowed = 405;
constexpr int kUpgradeRequired = 426;

constexpr std::string_view kHost = "Host";
constexpr std::string_view kUpgrade = "Upgrade";
constexpr std::string_view kConnection = "Connection";
constexpr std::string_view kOrigin = "Origin";
constexpr std::string_view kKey = "Sec-WebSocket-Key";
constexpr std::string_view kVersion = "Sec-WebSocket-Version";
constexpr std::string_view kProtocol = "Sec-WebSocket-Protocol";

bool is_base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

// The header fields the handshake looks at, collected in one pass.
struct HandshakeFields {
    std::string_view host, origin, key, version, protocols;
    int host_count = 0, key_count = 0, version_count = 0;
    bool upgrade_websocket = false, connection_upgrade = false, has_protocols = false;
};

HandshakeFields collect(const HttpRequest& request) {
    HandshakeFields f;
    for (size_t i = 0; i < request.header_count; ++i) {
        std::string_view name = request.headers[i].name;
        std::string_view value = request.headers[i].value;
        if (ascii_iequals(name, kHost)) {
            if (f.host_count++ == 0) f.host = value;
        } else if (ascii_iequals(name, kUpgrade)) {
            // Several lines of a list header form one list (RFC 9110 §5.3).
            f.upgrade_websocket |= list_contains_token(value, "websocket");
        } else if (ascii_iequals(name, kConnection)) {
            f.connection_upgrade |= list_contains_token(value, "upgrade");
        } else if (ascii_iequals(name, kKey)) {
            if (f.key_count++ == 0) f.key = value;
        } else if (ascii_iequals(name, kVersion)) {
            if (f.version_count++ == 0) f.version = value;
        } else if (ascii_iequals(name, kOrigin)) {
            if (f.origin.empty()) f.origin = value;
        } else if (ascii_iequals(name, kProtocol)) {
            if (!f.has_protocols) f.protocols = value;
            f.has_protocols = true;
        }
    }
    return f;
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
    for (size_t i = 0; i < request.header_count; ++i) {
        std::string_view name = request.headers[i].name;
        if (ascii_iequals(name, kUpgrade) || ascii_iequals(name, kKey)) return true;
    }
    return false;
}

HandshakeError validate_upgrade(const HttpRequest& request, UpgradeRequest& out) {
    if (request.method != "GET") return {kMethodNotAllowed, "WebSocket upgrade needs GET"};
    if (request.minor_version < 1) return {kBadRequest, "WebSocket upgrade needs HTTP/1.1"};
    HandshakeFields f = collect(request);
    if (f.host_count != 1) return {kBadRequest, "exactly one Host header required"};
    if (!f.upgrade_websocket) return {kBadRequest, "Upgrade: websocket required"};
    if (!f.connection_upgrade) return {kBadRequest, "Connection: Upgrade required"};
    if (f.version_count != 1 || f.version != kWebSocketVersion) {
        return {kUpgradeRequired, "unsupported Sec-WebSocket-Version"};
    }
    if (f.key_count != 1) return {kBadRequest, "exactly one Sec-WebSocket-Key required"};
    if (!is_valid_websocket_key(f.key)) return {kBadRequest, "invalid Sec-WebSocket-Key"};

    out.target = request.target;
    out.host = f.host;
    out.origin = f.origin;
    out.key = f.key;
    out.protocols = f.protocols;
    if (!parse_extension_offers(request, out.extensions)) out.extensions.count = 0;
    return {};
}

}  // namespace wsgate::proto
