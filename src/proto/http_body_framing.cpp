#include "proto/http_body_framing.hpp"

#include "proto/http_token.hpp"

namespace wsgate::proto {

namespace {

BodyFraming refuse(int status, std::string_view reason) {
    BodyFraming f;
    f.kind = BodyFramingKind::refused;
    f.http_status = status;
    f.reason = reason;
    return f;
}

// The last element of a comma-separated list (RFC 9110 §5.6.1), trimmed;
// empty elements are skipped.
std::string_view last_list_element(std::string_view list) {
    while (!list.empty()) {
        size_t comma = list.rfind(',');
        std::string_view tail =
            trim_ows(comma == std::string_view::npos ? list : list.substr(comma + 1));
        if (!tail.empty()) return tail;
        if (comma == std::string_view::npos) return {};
        list = list.substr(0, comma);
    }
    return {};
}

}  // namespace

BodyFraming decide_body_framing(const HttpRequest& request, uint64_t max_body_bytes) {
    int length_lines = 0;
    int coding_lines = 0;
    std::string_view length_value;
    std::string_view last_coding;
    for (size_t i = 0; i < request.header_count; ++i) {
        const HttpHeader& h = request.headers[i];
        if (ascii_iequals(h.name, "Content-Length")) {
            ++length_lines;
            length_value = h.value;
        } else if (ascii_iequals(h.name, "Transfer-Encoding")) {
            // Several lines form one list (RFC 9110 §5.3): the last coding
            // of the last non-empty line is the final coding.
            ++coding_lines;
            std::string_view last = last_list_element(h.value);
            if (!last.empty()) last_coding = last;
        }
    }
    if (coding_lines > 0) {
        if (length_lines > 0) return refuse(400, "Transfer-Encoding with Content-Length");
        if (request.minor_version < 1) return refuse(400, "Transfer-Encoding in HTTP/1.0");
        if (ascii_iequals(last_coding, "chunked")) {
            return refuse(411, "chunked request bodies are not accepted; send Content-Length");
        }
        return refuse(400, "Transfer-Encoding without final chunked");
    }
    if (length_lines == 0) return {};
    if (length_lines > 1) return refuse(400, "duplicate Content-Length");
    if (length_value.empty()) return refuse(400, "invalid Content-Length");
    // RFC 9110 §8.6: Content-Length = 1*DIGIT. Any other byte (sign, space,
    // comma of a list) is invalid framing. A value above the limit is
    // refused before it could overflow.
    uint64_t length = 0;
    bool too_big = false;
    for (char c : length_value) {
        if (c < '0' || c > '9') return refuse(400, "invalid Content-Length");
        if (!too_big) {
            auto digit = static_cast<uint64_t>(c - '0');
            too_big = length > (UINT64_MAX - digit) / 10;  // would wrap
            length = length * 10 + digit;
            too_big = too_big || length > max_body_bytes;
        }
    }
    if (too_big) return refuse(413, "request body too large");
    if (length == 0) return {};
    BodyFraming f;
    f.kind = BodyFramingKind::content_length;
    f.length = length;
    return f;
}

}  // namespace wsgate::proto
