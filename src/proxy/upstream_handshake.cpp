#include "proxy/upstream_handshake.hpp"

#include <strings.h>
#include <sys/random.h>

#include <cerrno>
#include <cstring>

#include "proto/frame_writer.hpp"
#include "proto/opcode.hpp"

namespace wsgate::proxy {

namespace {

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr size_t kNonceBytes = 16;

bool fill_random(void* out, size_t len) {
    auto* p = static_cast<uint8_t*>(out);
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += n;
        len -= static_cast<size_t>(n);
    }
    return true;
}

bool equals_nocase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
        v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
        v.remove_suffix(1);
    return v;
}

// RFC 9110 §7.6.1: Connection is a comma list of tokens.
bool list_has_token(std::string_view list, std::string_view token) {
    while (!list.empty()) {
        size_t comma = list.find(',');
        if (equals_nocase(trim(list.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

UpstreamAnswer invalid(std::string_view reason) {
    UpstreamAnswer a;
    a.kind = UpstreamAnswer::Kind::invalid;
    a.reason = reason;
    return a;
}

}  // namespace

bool make_websocket_key(char out[kWebSocketKeyLength]) {
    uint8_t nonce[kNonceBytes + 2] = {};  // padded to a multiple of 3
    if (!fill_random(nonce, kNonceBytes)) return false;
    for (size_t i = 0, o = 0; i < sizeof(nonce); i += 3, o += 4) {
        uint32_t v = uint32_t{nonce[i]} << 16 | uint32_t{nonce[i + 1]} << 8 | nonce[i + 2];
        out[o] = kBase64[v >> 18 & 63];
        out[o + 1] = kBase64[v >> 12 & 63];
        out[o + 2] = kBase64[v >> 6 & 63];
        out[o + 3] = kBase64[v & 63];
    }
    out[22] = '=';  // 16 bytes: two padding characters (RFC 4648 §4)
    out[23] = '=';
    return true;
}

UpstreamAnswer read_upstream_answer(std::string_view bytes, std::string_view key) {
    size_t end = bytes.find("\r\n\r\n");
    if (end == std::string_view::npos || end + 4 > kMaxUpstreamHeadBytes) {
        if (bytes.size() >= kMaxUpstreamHeadBytes) return invalid("response head too large");
        return {};
    }
    UpstreamAnswer a;
    a.head_length = end + 4;
    std::string_view head = bytes.substr(0, end + 2);  // each line ends with CRLF
    size_t eol = head.find("\r\n");
    std::string_view status_line = head.substr(0, eol);
    // RFC 9112 §4: HTTP-version SP 3DIGIT SP [reason]
    if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.") || status_line[8] != ' ') {
        return invalid("not an HTTP/1.x response");
    }
    int status = 0;
    for (size_t i = 9; i < 12; ++i) {
        char ch = status_line[i];
        if (ch < '0' || ch > '9') return invalid("bad status code");
        status = status * 10 + (ch - '0');
    }
    a.status = status;
    if (status != 101) {
        a.kind = UpstreamAnswer::Kind::refused;
        return a;
    }
    bool upgrade = false;
    bool connection = false;
    bool accepted = false;
    char expected[proto::kAcceptKeyLength];
    proto::compute_accept_key(key, expected);
    head.remove_prefix(eol + 2);
    while (!head.empty()) {
        eol = head.find("\r\n");
        std::string_view line = head.substr(0, eol);
        head.remove_prefix(eol + 2);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) return invalid("malformed header line");
        std::string_view name = line.substr(0, colon);
        std::string_view value = trim(line.substr(colon + 1));
        if (equals_nocase(name, "Upgrade")) {
            upgrade = equals_nocase(value, "websocket");
        } else if (equals_nocase(name, "Connection")) {
            connection = list_has_token(value, "upgrade");
        } else if (equals_nocase(name, "Sec-WebSocket-Accept")) {
            accepted = value == std::string_view(expected, sizeof(expected));
        } else if (equals_nocase(name, "Sec-WebSocket-Extensions")) {
            return invalid("extension in 101 that was not offered");  // RFC 6455 §4.1 item 5
        } else if (equals_nocase(name, "Sec-WebSocket-Protocol")) {
            a.protocol = value;
        }
    }
    if (!upgrade || !connection) return invalid("101 without Upgrade: websocket");
    if (!accepted) return invalid("101 with a wrong Sec-WebSocket-Accept");
    a.kind = UpstreamAnswer::Kind::switching;
    return a;
}

void MaskKeySource::refill() {
    if (!fill_random(keys_, sizeof(keys_))) {
        // No entropy at all (not expected on Linux >= 3.17): keys stay
        // distinct per frame, if predictable.
        for (size_t i = 0; i < kBatch; ++i)
            keys_[i] = keys_[i] * 2654435761u + uint32_t(i) + 1;
    }
    next_ = 0;
}

size_t write_masked_frame_header(uint8_t* out, uint8_t opcode, bool fin, uint64_t payload_length,
                                 uint32_t key) {
    constexpr uint8_t kMaskBit = 0x80;
    size_t n = proto::write_frame_header(out, static_cast<proto::Opcode>(opcode), fin, false,
                                         payload_length);
    out[1] |= kMaskBit;
    std::memcpy(out + n, &key, sizeof(key));  // wire order = MaskKey's little-endian load
    return n + sizeof(key);
}

}  // namespace wsgate::proxy
