#include "proto/upgrade_request.hpp"

#include <array>

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
        // Dispatch on length first: most of a browser's headers match no name
        // here, and the names below all differ in length.
        switch (name.size()) {
            case kHost.size():
                if (ascii_iequals(name, kHost) && f.host_count++ == 0) f.host = value;
                break;
            case kUpgrade.size():
                // Several lines of a list header form one list (RFC 9110 §5.3).
                if (ascii_iequals(name, kUpgrade)) {
                    f.upgrade_websocket |= list_contains_token(value, "websocket");
                }
                break;
            case kConnection.size():
                if (ascii_iequals(name, kConnection)) {
                    f.connection_upgrade |= list_contains_token(value, "upgrade");
                }
                break;
            case kKey.size():
                if (ascii_iequals(name, kKey) && f.key_count++ == 0) f.key = value;
                break;
            case kVersion.size():
                if (ascii_iequals(name, kVersion) && f.version_count++ == 0) f.version = value;
                break;
            case kOrigin.size():
                if (ascii_iequals(name, kOrigin) && f.origin.empty()) f.origin = value;
                break;
            case kProtocol.size():
                if (ascii_iequals(name, kProtocol) && !f.has_protocols) {
                    f.protocols = value;
                    f.has_protocols = true;
                }
                break;
            default:
                break;
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
