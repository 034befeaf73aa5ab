#pragma once
// Reads the answers to a keep-alive connection's pipelined HTTP/1.1 requests
// (RFC 9112 §6.3: each body delimited by Content-Length), one at a time, from
// arbitrary chunks. For wsload's server-API publishers. Independent of sockets.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace wsgate::bench {

class HttpResponseReader {
  public:
    enum class Status {
        kNeedMore,   // all of `data` used, no response complete
        kResponse,   // status() and body() hold the next complete response
        kMalformed,  // not an HTTP/1.1 response, no Content-Length, or too large
    };
    explicit HttpResponseReader(std::size_t max_bytes = 65536) : max_bytes_(max_bytes) {}

    Status next(std::span<const std::uint8_t> data, std::size_t& used);
    int status() const { return status_; }
    std::string_view body() const;
    // The response announced "Connection: close".
    bool closes() const { return closes_; }

  private:
    Status parse_head();

    std::size_t max_bytes_;
    std::string buffer_;
    std::size_t head_end_ = 0;  // past the empty line; 0 while the head is incomplete
    std::size_t body_length_ = 0;
    bool done_ = false;  // buffer_ holds the last complete response: drop it on next use
    bool closes_ = false;
    int status_ = 0;
};

}  // namespace wsgate::bench
