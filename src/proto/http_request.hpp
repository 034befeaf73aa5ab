// Incremental, in-place HTTP/1.1 request-head parser (RFC 9112 §2-§5) with the
// picohttpparser contract: the caller owns the bytes, the parser returns
// complete / need_more / error and fills views into the caller's buffer. No
// copies, no allocation.
//
// What it rejects, each with a 4xx/5xx status and a short static reason:
// bare LF or bare CR, NUL and every other CTL except HTAB (also DEL), obs-fold
// (a line starting with SP/HTAB), a header name that is not a token, whitespace
// between name and colon (RFC 9112 §5.1), a missing colon, a malformed request
// line, HTTP major version other than 1 (505), a head larger than
// max_header_bytes or more than max_headers fields (431).
// One empty line before the request line is ignored (RFC 9112 §2.2).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace wsgate::proto {

struct HttpHeader {
    std::string_view name;
    std::string_view value;  // without surrounding OWS
};

inline constexpr size_t kMaxHttpHeaders = 64;
inline constexpr size_t kDefaultMaxHeaderBytes = 8192;

// Header fields the WebSocket handshake looks at (RFC 6455 §4.2.1, §9.1). The
// parser recognises these names (case-insensitively, RFC 9110 §5.1) while it
// scans each line, so the handshake checks never compare header names.
enum class KnownHeader : uint8_t {
    host,
    upgrade,
    connection,
    origin,
    sec_websocket_key,
    sec_websocket_version,
    sec_websocket_protocol,
    sec_websocket_extensions,
};
inline constexpr size_t kKnownHeaderCount = 8;

// One bit per header line: known_lines can describe every line.
using HeaderLineSet = uint64_t;
static_assert(kMaxHttpHeaders <= sizeof(HeaderLineSet) * 8);

struct HttpLimits {
    size_t max_header_bytes = kDefaultMaxHeaderBytes;
    size_t max_headers = kMaxHttpHeaders;  // values above kMaxHttpHeaders act as kMaxHttpHeaders
};

struct HttpRequest {
    std::string_view method, target;
    int minor_version = 0;  // HTTP/1.<minor>
    std::array<HttpHeader, kMaxHttpHeaders> headers;
    size_t header_count = 0;
    // Bit i of known_lines[h] is set when headers[i].name is the name of h.
    std::array<HeaderLineSet, kKnownHeaderCount> known_lines{};

    // Value of the first header with that name (case-insensitive), or empty.
    std::string_view header(std::string_view name) const;

    // The lines whose name is `h` (bit i = headers[i]).
    HeaderLineSet lines(KnownHeader h) const { return known_lines[static_cast<size_t>(h)]; }
    // How many lines have the name `h`.
    int count(KnownHeader h) const { return std::popcount(lines(h)); }
    // count(h) == 1, without a popcount call on CPUs before POPCNT.
    bool has_one(KnownHeader h) const {
        HeaderLineSet set = lines(h);
        return set != 0 && (set & (set - 1)) == 0;
    }
    // Value of the first line named `h`, or empty when there is none.
    std::string_view first_value(KnownHeader h) const {
        HeaderLineSet set = lines(h);
        return set == 0 ? std::string_view{} : headers[std::countr_zero(set)].value;
    }
};

enum class ParseStatus { complete, need_more, error };

struct HttpParseResult {
    ParseStatus status;
    size_t consumed = 0;  // when complete: bytes of the request head including the final CRLF CRLF
    int http_status = 0;  // when error: 400, 431 (head too large / too many headers), 505
    std::string_view reason;  // when error: short static text, e.g. "bare LF in request head"
};

// buf[0, len) is the request so far (caller's memory; views point into it and
// live as long as it does). scanned is how many bytes an earlier call already
// saw (0 the first time): the search for the end of the head resumes 3 bytes
// before it, so a trickling request is not rescanned from the start
// (slow-loris defence); bytes before scanned must not have changed. The head is
// parsed once, when its end has arrived. Returns need_more only while len <=
// limits.max_header_bytes. Never reads past buf + len. `out` is filled only on
// complete.
HttpParseResult parse_http_request(const char* buf, size_t len, size_t scanned, HttpRequest& out,
                                   const HttpLimits& limits = {});

}  // namespace wsgate::proto
