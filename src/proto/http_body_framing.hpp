// How a plain HTTP/1.1 request's body is delimited, decided from the head
// alone (RFC 9112 §6.1, §6.3), before any body byte is read.
//
// The gateway accepts bodies framed by one Content-Length and refuses the
// rest, each with the status the RFC asks for (the connection is closed
// after a refusal: the body's end cannot be trusted or will not be read):
//   no Transfer-Encoding, no Content-Length      no body (§6.3 rule 7)
//   one Content-Length of 1*DIGIT, <= the limit  that many bytes (rule 6)
//   Content-Length above the limit               413 (RFC 9110 §15.5.14)
//   Content-Length not 1*DIGIT (sign, space,     400 (rule 5)
//     hex, empty, a list "5, 5")
//   more than one Content-Length line            400 (a list of equal values
//                                                may be accepted, §8.6; we
//                                                refuse it: smuggling defence)
//   Transfer-Encoding and Content-Length         400 (§6.1 allows rejecting;
//                                                request smuggling, §11.2)
//   Transfer-Encoding in HTTP/1.0                400 (§6.1: faulty framing)
//   Transfer-Encoding ending in chunked          411 Length Required: chunked
//                                                bodies are not decoded, send
//                                                Content-Length
//   Transfer-Encoding not ending in chunked      400 (rule 4: MUST)
#pragma once

#include <cstdint>
#include <string_view>

#include "proto/http_request.hpp"

namespace wsgate::proto {

enum class BodyFramingKind : uint8_t {
    none,            // no body: the next byte starts the next request
    content_length,  // `length` bytes of body follow the head
    refused,         // answer http_status, then close
};

struct BodyFraming {
    BodyFramingKind kind = BodyFramingKind::none;
    uint64_t length = 0;      // content_length: the body's size (> 0)
    int http_status = 0;      // refused: 400, 411 or 413
    std::string_view reason;  // refused: short static text for the response and the log
};

// The framing of `request`'s body, with bodies larger than max_body_bytes
// refused (413). A Content-Length of 0 is `none`.
BodyFraming decide_body_framing(const HttpRequest& request, uint64_t max_body_bytes);

}  // namespace wsgate::proto
