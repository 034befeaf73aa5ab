#include "proto/http_response.hpp"

#include <cstring>

#include "proto/accept_key.hpp"

namespace wsgate::proto {

namespace {

constexpr int kMethodNotAllowed = 405;
constexpr int kUpgradeRequired = 426;
constexpr int kMinStatus = 100;
constexpr int kMaxStatus = 999;

constexpr std::string_view kCrlf = "\r\n";

bool has_line_break(std::string_view s) {
    return s.find_first_of("\r\n") != std::string_view::npos;
}

// Appends to a bounded buffer; once something does not fit, every later
// append is dropped and finish() returns 0.
class Writer {
  public:
    Writer(char* out, size_t cap) : begin_(out), p_(out), end_(out + cap) {}

    void put(std::string_view s) {
        if (static_cast<size_t>(end_ - p_) < s.size()) {
            overflow_ = true;
            return;
        }
        if (!s.empty()) std::memcpy(p_, s.data(), s.size());
        p_ += s.size();
    }

    void put_number(size_t n) {
        char digits[20];  // enough for 2^64 - 1
        size_t i = sizeof(digits);
        do {
            digits[--i] = static_cast<char>('0' + n % 10);
            n /= 10;
        } while (n != 0);
        put({digits + i, sizeof(digits) - i});
    }

    // Claims n bytes for the caller to fill in; nullptr when they do not fit.
    char* reserve(size_t n) {
        if (overflow_ || static_cast<size_t>(end_ - p_) < n) {
            overflow_ = true;
            return nullptr;
        }
        char* at = p_;
        p_ += n;
        return at;
    }

    void header(std::string_view name, std::string_view value) {
        put(name);
        put(": ");
        put(value);
        put(kCrlf);
    }

    // The empty line that ends every head lives here only, so no writer can forget it.
    size_t finish_head() {
        put(kCrlf);
        return finish();
    }

    size_t finish() const { return overflow_ ? 0 : static_cast<size_t>(p_ - begin_); }

  private:
    char* begin_;
    char* p_;
    char* end_;
    bool overflow_ = false;
};

void status_line(Writer& w, int status) {
    w.put("HTTP/1.1 ");
    w.put_number(static_cast<size_t>(status));
    w.put(" ");
    w.put(http_status_text(status));
    w.put(kCrlf);
}

}  // namespace

size_t write_upgrade_response(char* out, size_t cap, std::string_view client_key,
                              std::string_view protocol, std::string_view extensions) {
    if (has_line_break(protocol) || has_line_break(extensions)) return 0;
    Writer w(out, cap);
    w.put(
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Accept: ");
    if (char* accept = w.reserve(kAcceptKeyLength)) compute_accept_key(client_key, accept);
    w.put(kCrlf);
    if (!protocol.empty()) w.header("Sec-WebSocket-Protocol", protocol);
    if (!extensions.empty()) w.header("Sec-WebSocket-Extensions", extensions);
    return w.finish_head();
}

size_t write_http_error(char* out, size_t cap, int status, std::string_view reason,
                        bool head_request, uint32_t retry_after_s) {
    if (status < kMinStatus || status > kMaxStatus || has_line_break(reason)) return 0;
    Writer w(out, cap);
    status_line(w, status);
    w.header("Content-Type", "text/plain");
    w.put("Content-Length: ");
    w.put_number(reason.size() + 1);
    w.put(kCrlf);
    w.header("Connection", "close");
    // Allow names the methods that would succeed for this request. Errors written
    // here answer WebSocket upgrades, and only GET upgrades (RFC 6455 §4.1): a HEAD
    // upgrade told "Allow: GET, HEAD" would be told its own method works.
    if (status == kMethodNotAllowed) w.header("Allow", "GET");
    if (status == kUpgradeRequired) {
        w.header("Upgrade", "websocket");
        w.header("Sec-WebSocket-Version", "13");
    }
    if (retry_after_s != 0) {
        w.put("Retry-After: ");
        w.put_number(retry_after_s);
        w.put(kCrlf);
    }
    if (head_request) return w.finish_head();
    w.finish_head();
    w.put(reason);
    w.put("\n");
    return w.finish();
}

size_t write_http_response_head(char* out, size_t cap, int status, std::string_view content_type,
                                size_t content_length, bool keep_alive) {
    if (status < kMinStatus || status > kMaxStatus || has_line_break(content_type)) return 0;
    Writer w(out, cap);
    status_line(w, status);
    w.header("Content-Type", content_type);
    w.put("Content-Length: ");
    w.put_number(content_length);
    w.put(kCrlf);
    w.header("Connection", keep_alive ? "keep-alive" : "close");
    return w.finish_head();
}

std::string_view http_status_text(int status) {
    switch (status) {
        case 101:
            return "Switching Protocols";
        case 200:
            return "OK";
        case 204:
            return "No Content";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 304:
            return "Not Modified";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 411:
            return "Length Required";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 426:
            return "Upgrade Required";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return {};
    }
}

}  // namespace wsgate::proto
