// The application protocols the server speaks over TLS (RFC 7301), in the
// wire format ALPN uses: each name preceded by its length. HTTP/1.1 only
// (WebSocket upgrades, RFC 6455 §4.1); "h2" (RFC 8441's WebSocket over
// HTTP/2) would go before it once the loop speaks HTTP/2.
#pragma once

namespace wsgate::tls {

inline constexpr unsigned char kServerAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

}  // namespace wsgate::tls
