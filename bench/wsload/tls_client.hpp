#pragma once
// wsload's TLS client: OpenSSL 3 over two memory BIOs, so the io_uring loop keeps
// doing every receive and send itself — ciphertext from the provided-buffer ring
// goes in, records to send come out, and nothing here touches a socket.

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace wsgate::bench {

struct TlsClientSettings {
    std::string ca_file;      // verify the server's chain against this CA (PEM)
    bool insecure = false;    // or verify nothing (benchmarks against throwaway certs)
    bool resume = false;      // offer the newest session seen, so reconnects resume
    std::string server_name;  // SNI and the name checked against the certificate
};

// One per worker process: the SSL_CTX and, with `resume`, the newest session a
// server handed out (a TLS 1.3 ticket arrives after the handshake, so it is
// caught by the new-session callback rather than taken when the handshake ends).
class TlsClientContext {
  public:
    TlsClientContext() = default;
    ~TlsClientContext();
    TlsClientContext(const TlsClientContext&) = delete;
    TlsClientContext& operator=(const TlsClientContext&) = delete;

    // False with a message in `error` when the CA file cannot be used.
    bool init(const TlsClientSettings& settings, std::string& error);
    SSL_CTX* ctx() const { return ctx_; }
    const TlsClientSettings& settings() const { return settings_; }
    SSL_SESSION* latest_session() const { return latest_; }
    void remember(SSL_SESSION* session);  // takes ownership

  private:
    SSL_CTX* ctx_ = nullptr;
    SSL_SESSION* latest_ = nullptr;
    TlsClientSettings settings_;
};

// One TLS connection. Ciphertext goes in with feed(), plaintext comes out of
// read(); write() encrypts plaintext and take_output() hands back the records
// (and handshake flights) to send.
class TlsClientConn {
  public:
    enum class Step { kWant, kDone, kFailed };

    TlsClientConn() = default;
    ~TlsClientConn();
    TlsClientConn(const TlsClientConn&) = delete;
    TlsClientConn& operator=(const TlsClientConn&) = delete;

    // Starts a handshake (the ClientHello is then waiting in take_output()).
    bool start(TlsClientContext& context);
    void feed(std::span<const std::uint8_t> ciphertext);
    // Advances the handshake with what was fed.
    Step handshake();
    bool handshake_done() const { return done_; }
    bool resumed() const { return SSL_session_reused(ssl_) == 1; }
    // Decrypts into `out`: bytes written, 0 when nothing is ready (or the peer
    // sent close_notify), -1 on a TLS failure.
    long read(std::span<std::uint8_t> out);
    // Encrypts all of `plaintext` (memory BIOs take every record); false on failure.
    bool write(std::span<const std::uint8_t> plaintext);
    bool has_output() const { return BIO_ctrl_pending(wbio_) > 0; }
    // Appends the pending ciphertext to `out`.
    void take_output(std::string& out);
    // The connection ended properly (WebSocket close handshake, then EOF): its
    // session stays resumable when freed.
    void closed_cleanly();
    // The library's reason for the last failure (for one log line).
    static std::string last_error();

  private:
    SSL* ssl_ = nullptr;
    BIO* rbio_ = nullptr;  // owned by ssl_
    BIO* wbio_ = nullptr;  // owned by ssl_
    bool done_ = false;
};

}  // namespace wsgate::bench
