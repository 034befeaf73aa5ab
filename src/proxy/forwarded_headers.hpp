// The request head a reverse proxy sends upstream: the client's, with the
// forwarding headers extended by one hop. Everything else (Host, Upgrade,
// Connection, Sec-WebSocket-*, cookies, ...) is kept as it came, in order.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

#include "proto/http_request.hpp"

namespace wsgate::proxy {

// The client's address as the forwarding headers name it: "192.0.2.43" or
// "2001:db8::1" (no port); empty for another family.
std::string client_address_text(const sockaddr* addr);

// RFC 7239 §4 forwarded-element for this hop: for=<client>;proto=<proto>
// and host=<Host> when the request has one; IPv6 nodes in quoted brackets
// (§6), values that are not tokens quoted (RFC 9110 §5.6.4).
std::string forwarded_element(std::string_view client, std::string_view proto,
                              std::string_view host);

// The head to send upstream: request line and headers as received, except
// that X-Forwarded-For gets the client appended (one line, the earlier
// values first), X-Forwarded-Proto is set to `proto`, and Forwarded gets
// this hop's element appended (RFC 7239 §4: a proxy appends to the list).
// Ends with the empty line. With a `websocket_key` (a `frames` relay, where
// wsgate is the upstream's WebSocket client) Sec-WebSocket-Key is that key
// and no Sec-WebSocket-Extensions go upstream (compression is per hop).
std::string forwarded_request_head(const proto::HttpRequest& request, std::string_view client,
                                   std::string_view proto, std::string_view websocket_key = {});

}  // namespace wsgate::proxy
