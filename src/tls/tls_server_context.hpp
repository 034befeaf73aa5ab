// The process's TLS server side: one SSL_CTX per certificate (all set up
// alike), chosen per connection by the client's SNI name, and the session
// ticket keys they share. Made once at start-up, before any loop or worker
// exists, and read-only afterwards (SSL_new from several threads is safe).
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tls/tls_settings.hpp"

namespace wsgate::tls {

class TicketKeys;

class TlsServerContext {
  public:
    // The contexts of settings, or nullptr and a one-line *error (which file,
    // what OpenSSL said).
    static std::unique_ptr<TlsServerContext> create(const TlsSettings& settings,
                                                    std::string* error);
    ~TlsServerContext();
    TlsServerContext(const TlsServerContext&) = delete;
    TlsServerContext& operator=(const TlsServerContext&) = delete;

    // A server-side SSL on the default certificate (SNI may switch it).
    SSL* new_ssl() const { return SSL_new(contexts_.front()); }

    // One line for the start-up log: certificates and the names they serve.
    std::string describe() const;

  private:
    TlsServerContext() = default;
    static int on_client_hello_name(SSL* ssl, int* alert, void* self);

    std::vector<SSL_CTX*> contexts_;           // [0]: the default certificate
    std::vector<std::string> names_;           // per context, for describe()
    std::unique_ptr<TicketKeys> ticket_keys_;  // shared by every context
};

}  // namespace wsgate::tls
