// What a TLS session needs to hand its keys to the kernel once established:
// the records counted each way through its BIO (their sequence numbers) and
// the TLS 1.3 application traffic secrets from the key log. Allocated per
// session only where kernel TLS may be used, freed at the handover (or when
// the session stays in user space).
#pragma once

#include "tls/ktls_keys.hpp"
#include "tls/record_counter.hpp"

namespace wsgate::tls {

struct KernelTlsTrack {
    RecordCounter sent;      // server -> client records, as OpenSSL wrote them
    RecordCounter received;  // client -> server records, as OpenSSL read them
    TrafficSecrets secrets;
};

// The key log callback of every server context when kernel TLS may be used
// (SSL_CTX_set_keylog_callback): keeps the application traffic secrets of
// the connection's KernelTlsTrack and marks where each direction's
// application keys begin. OpenSSL calls it as the keys change: after the
// server's Finished is written (server secret) and once the client's
// Finished is read (client secret) - RFC 8446 §7.1's secrets, taken in use
// at those points (§4.4.4).
void ktls_key_log(const SSL* ssl, const char* line);

}  // namespace wsgate::tls
