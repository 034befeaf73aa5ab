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
#include <cstddef>
#include <string_view>

namespace wsgate::proto {

struct HttpHeader {
    std::string_view name;
    std::string_view value;  // without surrounding OWS
};

inline constexpr size_t kMaxHttpHeaders = 64;
inline constexpr size_t kDefaultMaxHeaderBytes = 8192;

struct HttpLimits {
    size_t max_header_bytes = kDefaultMaxHeaderBytes;
    size_t max_headers = kMaxHttpHeaders;  // values above kMaxHttpHeaders act as kMaxHttpHeaders
};

struct HttpRequest {
    std::string_view method, target;
    int minor_version = 0;  // HTTP/1.<minor>
    std::array<HttpHeader, kMaxHttpHeaders> headers;
    size_t header_count = 0;

    // Value of the first header with that name (case-insensitive), or empty.
    std::string_view header(std::string_view name) const;
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
