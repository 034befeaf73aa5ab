// HTTP/1.1 response heads the gateway sends: the 101 of the WebSocket
// handshake (RFC 6455 §4.2.2), error responses, and heads of plain responses.
// Every writer returns the bytes written, or 0 when cap is too small (then the
// contents of out are unspecified); nothing is allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace wsgate::proto {

// The whole 101 head, ending with its empty line:
//   HTTP/1.1 101 Switching Protocols CRLF Upgrade: websocket CRLF
//   Connection: Upgrade CRLF Sec-WebSocket-Accept: <28> CRLF
//   [Sec-WebSocket-Protocol: <protocol> CRLF] [Sec-WebSocket-Extensions: <extensions> CRLF]
//   CRLF
// An empty protocol / extensions omits that line. Returns 0 also when protocol
// or extensions hold CR or LF (no header injection).
size_t write_upgrade_response(char* out, size_t cap, std::string_view client_key,
                              std::string_view protocol = {}, std::string_view extensions = {});

// A complete error response:
//   HTTP/1.1 <status> <text> CRLF Content-Type: text/plain CRLF
//   Content-Length: <n> CRLF Connection: close CRLF [extra] CRLF <reason> LF
// extra for 405: "Allow: GET" (RFC 9110 §15.5.6 requires Allow; this writer
// answers upgrade requests, which only GET can make, RFC 6455 §4.1 — plain
// endpoints answer their own 405 with "Allow: GET, HEAD"); for 426:
// "Upgrade: websocket" (RFC 9110 §15.5.22 requires Upgrade) and
// "Sec-WebSocket-Version: 13" (RFC 6455 §4.4). head_request: the answer to a
// HEAD request ends with the head (RFC 9110 §9.3.2: a response to HEAD has no
// content; Content-Length still gives the size a GET would get, §8.6).
// retry_after_s > 0 adds "Retry-After: <seconds>" (RFC 9110 §10.2.3; with
// 429, RFC 6585 §4, and 503, RFC 9110 §15.6.4).
// Returns 0 also when reason holds CR or LF.
size_t write_http_error(char* out, size_t cap, int status, std::string_view reason,
                        bool head_request = false, uint32_t retry_after_s = 0);

// Head of a response whose body the caller sends separately (gather write):
//   HTTP/1.1 <status> <text> CRLF Content-Type: <content_type> CRLF
//   Content-Length: <n> CRLF Connection: keep-alive|close CRLF CRLF
size_t write_http_response_head(char* out, size_t cap, int status, std::string_view content_type,
                                size_t content_length, bool keep_alive);

// RFC 9110 §15 reason phrase ("Bad Request", ...); empty for a status it does
// not know (an empty reason phrase is valid, RFC 9112 §4).
std::string_view http_status_text(int status);

}  // namespace wsgate::proto
