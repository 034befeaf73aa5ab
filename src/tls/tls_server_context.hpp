// The process's TLS server side: one SSL_CTX per certificate (all set up
// alike), chosen per connection by the client's SNI name, and the session
// ticket keys they share. Made once at start-up, before any loop or worker
// exists, and read-only afterwards (SSL_new from several threads is safe).
#pragma once

#include <openssl/ssl.h>

#include <atomic>
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

    // Reads the certificate and key files of settings again (SIGHUP): new
    // handshakes use them, connections keep what they have; the ticket keys
    // stay, so tickets issued before still resume. false: the certificates
    // in use stay, *error says why. Not for several threads at once with
    // itself; new_ssl may run meanwhile.
    bool reload(const TlsSettings& settings, std::string* error);

    // A server-side SSL on the default certificate (SNI may switch it).
    SSL* new_ssl() const {
        return SSL_new(current_.load(std::memory_order_acquire)->contexts.front());
    }

    // Sessions are to be prepared for kernel TLS (TlsSettings::kernel_tls).
    bool kernel_tls() const { return kernel_tls_; }

    // One line for the log: certificates and the names they serve.
    std::string describe() const;

  private:
    // One SSL_CTX per certificate, [0] the default; immutable once made.
    struct CertificateSet {
        std::vector<SSL_CTX*> contexts;
        std::vector<std::string> names;  // per context, for describe()
        ~CertificateSet();
    };

    TlsServerContext() = default;
    static std::unique_ptr<CertificateSet> make_set(const TlsSettings& settings, TicketKeys* keys,
                                                    std::string* error);
    static int on_client_hello_name(SSL* ssl, int* alert, void* set);

    std::unique_ptr<TicketKeys> ticket_keys_;  // shared by every context
    // Every set made, the current one last: a handshake begun on an older
    // set still reads it (its SNI callback), so sets live as long as the
    // process (a few KiB per reload).
    std::vector<std::unique_ptr<CertificateSet>> sets_;
    std::atomic<const CertificateSet*> current_{nullptr};
    bool kernel_tls_ = false;
    std::mutex reload_mutex_;
};

}  // namespace wsgate::tls
