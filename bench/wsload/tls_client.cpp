#include "tls_client.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace wsgate::bench {
namespace {

int on_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* context = static_cast<TlsClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    if (!context || !SSL_SESSION_is_resumable(session)) return 0;
    context->remember(session);
    return 1;  // we keep the reference
}

}  // namespace

TlsClientContext::~TlsClientContext() {
    if (latest_) SSL_SESSION_free(latest_);
    if (ctx_) SSL_CTX_free(ctx_);
}

bool TlsClientContext::init(const TlsClientSettings& settings, std::string& error) {
    settings_ = settings;
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) {
        error = TlsClientConn::last_error();
        return false;
    }
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    // Idle connections should not each keep 2 x 16 KiB record buffers on our side either.
    SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_app_data(ctx_, this);
    if (settings.insecure) {
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    } else {
        if (SSL_CTX_load_verify_locations(ctx_, settings.ca_file.c_str(), nullptr) != 1) {
            error = "tls-ca " + settings.ca_file + ": " + TlsClientConn::last_error();
            return false;
        }
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    }
    if (settings.resume) {
        // Client-side caching only so the callback sees every new session; the
        // internal store is off, we keep just the newest one.
        SSL_CTX_set_session_cache_mode(ctx_,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx_, on_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET);
    }
    return true;
}

void TlsClientContext::remember(SSL_SESSION* session) {
    if (latest_) SSL_SESSION_free(latest_);
    latest_ = session;
}

void TlsClientConn::closed_cleanly() {
    // Without this SSL_free takes the connection for a failed one and marks its
    // session (the newest ticket's, in TLS 1.3) not resumable.
    if (ssl_) SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
}

TlsClientConn::~TlsClientConn() {
    if (ssl_) SSL_free(ssl_);  // frees both BIOs
}

bool TlsClientConn::start(TlsClientContext& context) {
    ssl_ = SSL_new(context.ctx());
    if (!ssl_) return false;
    rbio_ = BIO_new(BIO_s_mem());
    wbio_ = BIO_new(BIO_s_mem());
    if (!rbio_ || !wbio_) {
        BIO_free(rbio_);
        BIO_free(wbio_);
        rbio_ = wbio_ = nullptr;
        return false;
    }
    // An empty read BIO means "wait for more", not end of stream.
    BIO_set_mem_eof_return(rbio_, -1);
    SSL_set_bio(ssl_, rbio_, wbio_);
    SSL_set_connect_state(ssl_);
    const std::string& name = context.settings().server_name;
    if (!name.empty()) {
        // An IP literal is not sent as SNI (RFC 6066 §3) but still checked.
        unsigned char ip[16];
        const bool literal =
            inet_pton(AF_INET, name.c_str(), ip) == 1 || inet_pton(AF_INET6, name.c_str(), ip) == 1;
        if (!literal) SSL_set_tlsext_host_name(ssl_, name.c_str());
        if (!context.settings().insecure) {
            if (literal)
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str());
            else
                SSL_set1_host(ssl_, name.c_str());
        }
    }
    static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_set_alpn_protos(ssl_, kAlpn, sizeof kAlpn);
    if (context.settings().resume && context.latest_session()) {
        // A copy: an OpenSSL 3 client marks a TLS 1.3 session it resumed as used
        // up, and wsgate sends no new ticket on a resumed handshake, so offering
        // the original would make every second reconnect a full handshake.
        SSL_SESSION* copy = SSL_SESSION_dup(context.latest_session());
        if (copy) {
            SSL_set_session(ssl_, copy);
            SSL_SESSION_free(copy);  // the SSL holds its own reference
        }
    }
    return handshake() != Step::kFailed;
}

void TlsClientConn::feed(std::span<const std::uint8_t> ciphertext) {
    if (!ciphertext.empty())
        BIO_write(rbio_, ciphertext.data(), static_cast<int>(ciphertext.size()));
}

TlsClientConn::Step TlsClientConn::handshake() {
    if (done_) return Step::kDone;
    const int rc = SSL_do_handshake(ssl_);
    if (rc == 1) {
        done_ = true;
        return Step::kDone;
    }
    const int err = SSL_get_error(ssl_, rc);
    return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? Step::kWant : Step::kFailed;
}

long TlsClientConn::read(std::span<std::uint8_t> out) {
    std::size_t got = 0;
    if (SSL_read_ex(ssl_, out.data(), out.size(), &got) == 1) return static_cast<long>(got);
    const int err = SSL_get_error(ssl_, 0);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_ZERO_RETURN)
        return 0;
    return -1;
}

bool TlsClientConn::write(std::span<const std::uint8_t> plaintext) {
    std::size_t written = 0;
    return plaintext.empty() ||
           (SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &written) == 1 &&
            written == plaintext.size());
}

void TlsClientConn::take_output(std::string& out) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(wbio_, &data);
    if (n <= 0) return;
    out.append(data, static_cast<std::size_t>(n));
    (void)BIO_reset(wbio_);
}

std::string TlsClientConn::last_error() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "unknown TLS error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

}  // namespace wsgate::bench
