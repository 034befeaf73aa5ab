// The BIO between OpenSSL and a loop's buffers: reads take ciphertext from
// the receive buffer being delivered (TlsSession::in, no copy into a
// memory BIO), writes append records to the connection's cipher queue (so
// the loop's one gathered send per turn carries them). It never blocks: an
// empty input is "retry", a write always takes everything.
#pragma once

#include <openssl/bio.h>

namespace wsgate::tls {

struct TlsSession;

// A BIO over `session` (one for both directions), or nullptr.
BIO* new_loop_bio(TlsSession* session);

}  // namespace wsgate::tls
