// Delimiter scanning over an HTTP request head, 16 bytes at a time with SSE2
// (baseline on x86-64, so no run-time dispatch). The scalar versions are the
// specification; the tests hold the SSE2 versions to them.
#pragma once

#include <cstddef>

namespace wsgate::proto {

struct HeadScan {
    enum class Kind {
        not_found,     // no end of head in [from, len); pos = len
        end,           // pos = index one past the LF of the first CR LF CR LF
        bare_lf,       // pos = index of an LF not preceded by CR (RFC 9112 §2.2)
        control_byte,  // pos = index of a CTL other than HTAB, CR, LF (or DEL)
    };
    Kind kind;
    size_t pos;
};

// Looks at buf[from, len) for the end of the request head, stopping at the first
// bare LF or forbidden control byte. May read buf[from - 3, from) to recognise
// a CR LF CR LF that started before `from`; never reads at or past buf + len.
HeadScan scan_request_head(const char* buf, size_t from, size_t len);
HeadScan scan_request_head_scalar(const char* buf, size_t from, size_t len);

// First CR in [p, end), or end when there is none. Never reads at or past end.
const char* find_cr(const char* p, const char* end);
const char* find_cr_scalar(const char* p, const char* end);

}  // namespace wsgate::proto
