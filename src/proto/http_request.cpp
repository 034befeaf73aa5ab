#include "proto/http_request.hpp"

#include <algorithm>
#include <cstring>

#include "proto/case_folded_literal.hpp"
#include "proto/http_scan.hpp"
#include "proto/http_token.hpp"

namespace wsgate::proto {

namespace {

constexpr int kBadRequest = 400;
constexpr int kHeaderFieldsTooLarge = 431;
constexpr int kVersionNotSupported = 505;

// RFC 6455 needs only origin-form and absolute-form targets; both are VCHAR
// only (RFC 3986 has no spaces, controls or non-ASCII bytes).
bool is_target_char(char c) {
    return c > ' ' && c < 0x7F;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

HttpParseResult error(int status, std::string_view reason) {
    return {ParseStatus::error, 0, status, reason};
}

// "HTTP/1.x" CR LF, RFC 9112 §2.3.
constexpr std::string_view kHttpName = "HTTP/";
constexpr size_t kVersionLength = 8;  // "HTTP/1.1"

// The known header names with their colon: a line that starts with one of
// these is that header (the colon proves the name ended there).
constexpr CaseFoldedLiteral kHostField("host:");
constexpr CaseFoldedLiteral kUpgradeField("upgrade:");
constexpr CaseFoldedLiteral kConnectionField("connection:");
constexpr CaseFoldedLiteral kOriginField("origin:");
constexpr CaseFoldedLiteral kKeyField("sec-websocket-key:");
constexpr CaseFoldedLiteral kVersionField("sec-websocket-version:");
constexpr CaseFoldedLiteral kProtocolField("sec-websocket-protocol:");
constexpr CaseFoldedLiteral kExtensionsField("sec-websocket-extensions:");
constexpr size_t kSecWebSocketPrefix = 14;  // "sec-websocket-": the next letter tells them apart
constexpr char kCaseBit = 0x20;

struct KnownName {
    size_t length = 0;  // of the name without its colon; 0 when the line holds no known name
    KnownHeader id = KnownHeader::host;
};

// A template so each comparison is unrolled with its constants.
template <const auto& field, KnownHeader id>
KnownName known_if(const char* p, const char* end) {
    if (static_cast<size_t>(end - p) >= field.size() && field.matches(p)) {
        return {field.size() - 1, id};
    }
    return {};
}

// Recognises a known header name followed by its colon at p, reading at most
// up to end. The first letter (and for the Sec-WebSocket-* names the letter
// after the common prefix) picks the one candidate to compare.
KnownName match_known_name(const char* p, const char* end) {
    switch (p[0] | kCaseBit) {
        case 'h':
            return known_if<kHostField, KnownHeader::host>(p, end);
        case 'u':
            return known_if<kUpgradeField, KnownHeader::upgrade>(p, end);
        case 'c':
            return known_if<kConnectionField, KnownHeader::connection>(p, end);
        case 'o':
            return known_if<kOriginField, KnownHeader::origin>(p, end);
        case 's':
            if (end - p <= static_cast<ptrdiff_t>(kSecWebSocketPrefix)) return {};
            switch (p[kSecWebSocketPrefix] | kCaseBit) {
                case 'k':
                    return known_if<kKeyField, KnownHeader::sec_websocket_key>(p, end);
                case 'v':
                    return known_if<kVersionField, KnownHeader::sec_websocket_version>(p, end);
                case 'p':
                    return known_if<kProtocolField, KnownHeader::sec_websocket_protocol>(p, end);
                case 'e':
                    return known_if<kExtensionsField, KnownHeader::sec_websocket_extensions>(p,
                                                                                             end);
                default:
                    return {};
            }
        default:
            return {};
    }
}

// Parses the complete head buf[0, head_len), which ends with CR LF CR LF and
// holds no bare LF and no forbidden control byte (scan_request_head checked).
// Bytes up to buf + len may be read (the SIMD CR search runs ahead).
HttpParseResult parse_head(const char* buf, size_t head_len, size_t len, HttpRequest& out,
                           size_t max_headers) {
    const char* p = buf;
    const char* const head_end = buf + head_len;
    const char* const readable_end = buf + len;

    if (p[0] == '\r' && p[1] == '\n') p += 2;  // RFC 9112 §2.2: one leading empty line

    const char* method = p;
    while (is_tchar(*p))
        ++p;
    if (p == method || *p != ' ') return error(kBadRequest, "invalid method");
    out.method = {method, static_cast<size_t>(p - method)};
    ++p;

    const char* target = p;
    while (is_target_char(*p))
        ++p;
    if (p == target || *p != ' ') return error(kBadRequest, "invalid request-target");
    out.target = {target, static_cast<size_t>(p - target)};
    ++p;

    // The head ends with CR LF CR LF, so the version plus its CR LF fits
    // before head_end when the request line is well-formed.
    if (head_end - p < static_cast<ptrdiff_t>(kVersionLength + 2) ||
        std::memcmp(p, kHttpName.data(), kHttpName.size()) != 0) {
        return error(kBadRequest, "invalid HTTP version");
    }
    p += kHttpName.size();
    if (is_digit(p[0]) && p[0] != '1') {
        return error(kVersionNotSupported, "HTTP version not supported");
    }
    if (p[0] != '1' || p[1] != '.' || !is_digit(p[2]) || p[3] != '\r' || p[4] != '\n') {
        return error(kBadRequest, "invalid HTTP version");
    }
    out.minor_version = p[2] - '0';
    p += 5;

    out.known_lines = {};
    size_t count = 0;
    while (true) {
        if (*p == '\r') {
            // A CR LF at the start of a line completes CR LF CR LF: the end.
            if (p[1] != '\n') return error(kBadRequest, "bare CR in request head");
            break;
        }
        if (is_ows(*p)) return error(kBadRequest, "obsolete line folding");  // RFC 9112 §5.2
        if (count == max_headers) return error(kHeaderFieldsTooLarge, "too many header fields");

        const char* name = p;
        size_t name_len;
        if (KnownName known = match_known_name(p, readable_end); known.length != 0) {
            // A known name is a token, and its colon matched too.
            name_len = known.length;
            out.known_lines[static_cast<size_t>(known.id)] |= HeaderLineSet{1} << count;
            p += name_len;
        } else {
            while (is_tchar(*p))
                ++p;
            if (*p != ':') {
                if (is_ows(*p) && p != name) {
                    return error(kBadRequest, "whitespace before colon");  // RFC 9112 §5.1
                }
                if (*p == '\r') return error(kBadRequest, "missing colon in header field");
                return error(kBadRequest, "invalid header field name");
            }
            if (p == name) return error(kBadRequest, "empty header field name");
            name_len = static_cast<size_t>(p - name);
        }
        ++p;
        while (is_ows(*p))
            ++p;
        const char* value = p;
        const char* cr = find_cr(p, readable_end);
        if (cr[1] != '\n') return error(kBadRequest, "bare CR in request head");
        const char* value_end = cr;
        while (value_end > value && is_ows(value_end[-1]))
            --value_end;
        out.headers[count++] = {{name, name_len}, {value, static_cast<size_t>(value_end - value)}};
        p = cr + 2;
    }
    out.header_count = count;
    return {ParseStatus::complete, head_len, 0, {}};
}

}  // namespace

std::string_view HttpRequest::header(std::string_view name) const {
    for (size_t i = 0; i < header_count; ++i) {
        if (ascii_iequals(headers[i].name, name)) return headers[i].value;
    }
    return {};
}

HttpParseResult parse_http_request(const char* buf, size_t len, size_t scanned, HttpRequest& out,
                                   const HttpLimits& limits) {
    // A head that has not ended within max_header_bytes is too large however
    // it continues, so nothing beyond the limit is looked at.
    size_t scan_len = std::min(len, limits.max_header_bytes);
    size_t from = std::min(scanned, scan_len);
    from = from >= 3 ? from - 3 : 0;  // a CR LF CR LF may straddle the previous end
    HeadScan scan = scan_request_head(buf, from, scan_len);
    switch (scan.kind) {
        case HeadScan::Kind::control_byte:
            return error(kBadRequest, "control character in request head");
        case HeadScan::Kind::bare_lf:
            return error(kBadRequest, "bare LF in request head");
        case HeadScan::Kind::not_found:
            if (len > limits.max_header_bytes) {
                return error(kHeaderFieldsTooLarge, "request head too large");
            }
            return {ParseStatus::need_more, 0, 0, {}};
        case HeadScan::Kind::end:
            break;
    }
    return parse_head(buf, scan.pos, len, out, std::min(limits.max_headers, kMaxHttpHeaders));
}

}  // namespace wsgate::proto
