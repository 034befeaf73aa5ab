// The HTTP response to a server API call: head and JSON body in one buffer,
// the body written with the proto/centrifugo_api.hpp writers into scratch
// space that grows (doubling) until it fits, reused between calls.
#pragma once

#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "proto/http_response.hpp"
#include "proto/json_out.hpp"

namespace wsgate::pubsub {

class ApiResponse {
  public:
    // write(JsonOut&) writes the body; returns head + body, valid until the
    // next build().
    template <class Write>
    std::span<const uint8_t> build(int status, bool keep_alive, Write&& write) {
        for (;;) {
            proto::JsonOut body(
                std::span<char>(buffer_.data() + kHeadRoom, buffer_.size() - kHeadRoom));
            write(body);
            if (body.ok()) return frame(status, keep_alive, body.size());
            buffer_.resize(buffer_.size() * 2);
        }
    }

    // A fixed body (errors), with one more header line when given
    // ("Allow: POST" for a 405, RFC 9110 §15.5.6).
    std::span<const uint8_t> fixed(int status, bool keep_alive, std::string_view body,
                                   std::string_view extra_header = {}) {
        extra_header_ = extra_header;
        std::span<const uint8_t> r =
            build(status, keep_alive, [&](proto::JsonOut& o) { o.raw(body); });
        extra_header_ = {};
        return r;
    }

  private:
    static constexpr size_t kHeadRoom = 256;

    std::span<const uint8_t> frame(int status, bool keep_alive, size_t body_bytes) {
        char head[kHeadRoom];
        size_t n = proto::write_http_response_head(head, sizeof(head), status, "application/json",
                                                   body_bytes, keep_alive);
        if (!extra_header_.empty() && n + extra_header_.size() + 2 <= sizeof(head)) {
            // Before the blank line that ends the head.
            n -= 2;
            std::memcpy(head + n, extra_header_.data(), extra_header_.size());
            n += extra_header_.size();
            std::memcpy(head + n, "\r\n\r\n", 4);
            n += 4;
        }
        // The head goes right before the body, which is already in place.
        char* start = buffer_.data() + kHeadRoom - n;
        std::memcpy(start, head, n);
        return {reinterpret_cast<const uint8_t*>(start), n + body_bytes};
    }

    std::vector<char> buffer_ = std::vector<char>(4096);
    std::string_view extra_header_;
};

}  // namespace wsgate::pubsub
