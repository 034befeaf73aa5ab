#include "tls/tls_server_context.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <cmath>
#include <cstring>

#include "tls/alpn.hpp"
#include "tls/ktls_track.hpp"
#include "tls/ticket_keys.hpp"

namespace wsgate::tls {

namespace {

std::string openssl_error() {
    unsigned long e = ERR_peek_last_error();
    ERR_clear_error();
    if (e == 0) return "unknown error";
    const char* reason = ERR_reason_error_string(e);
    return reason != nullptr ? reason : "unknown error";
}

// DNS names of the leaf (subjectAltName, else the subject's CN), for the log.
std::string leaf_names(SSL_CTX* ctx) {
    X509* leaf = SSL_CTX_get0_certificate(ctx);
    if (leaf == nullptr) return {};
    std::string out;
    auto* sans =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
    if (sans != nullptr) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
            const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
            if (n->type != GEN_DNS) continue;
            if (!out.empty()) out += ',';
            out.append(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                       static_cast<size_t>(ASN1_STRING_length(n->d.dNSName)));
        }
        GENERAL_NAMES_free(sans);
    }
    if (out.empty()) {
        char cn[256] = {};
        X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn));
        out = cn;
    }
    return out;
}

const char* key_type(SSL_CTX* ctx) {
    EVP_PKEY* key = SSL_CTX_get0_privatekey(ctx);
    if (key == nullptr) return "?";
    switch (EVP_PKEY_get_base_id(key)) {
        case EVP_PKEY_EC:
            return "ECDSA";
        case EVP_PKEY_RSA:
            return "RSA";
        case EVP_PKEY_ED25519:
            return "Ed25519";
        default:
            return "other";
    }
}

int ticket_key_callback(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                        EVP_MAC_CTX* mac, int seal) {
    auto* keys = static_cast<TicketKeys*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    return seal ? keys->seal(name, iv, cipher, mac) : keys->open(name, iv, cipher, mac);
}

// RFC 7301 §3.2: the server picks from the client's list; with no protocol
// in common the handshake fails with no_application_protocol. A client that
// sends no ALPN extension is served HTTP/1.1 (this is not called).
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                unsigned int in_len, void*) {
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, out_len, kServerAlpn, sizeof(kServerAlpn), in, in_len) !=
        OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

bool set_up(SSL_CTX* ctx, const TlsSettings& settings, const CertificateFiles& files,
            std::string* error) {
    // RFC 8996: TLS 1.0 and 1.1 are deprecated.
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    // No renegotiation (a client could make the server do handshakes over
    // and over on one connection); the server's cipher order wins.
    SSL_CTX_set_options(
        ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    // Record buffers are freed by the loop when a connection goes quiet
    // (TlsLoop::sweep_idle), not after every record.
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_set_cipher_list(ctx, settings.ciphers.c_str()) != 1) {
        *error = "tls-ciphers: " + openssl_error() + " in '" + settings.ciphers + "'";
        return false;
    }
    if (SSL_CTX_set_ciphersuites(ctx, settings.ciphersuites.c_str()) != 1) {
        *error = "tls-ciphersuites: " + openssl_error() + " in '" + settings.ciphersuites + "'";
        return false;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1) {
        *error = "tls-cert " + files.cert + ": " + openssl_error();
        return false;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
        *error = "tls-key " + files.key + ": " + openssl_error();
        return false;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        *error = "tls-key " + files.key + " does not match tls-cert " + files.cert;
        ERR_clear_error();
        return false;
    }
    // Stateless resumption only (tickets): no per-session memory on the
    // server, and every loop and worker can resume every ticket.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    // A ticket opens for up to two key periods (TicketKeys keeps the previous key).
    SSL_CTX_set_timeout(ctx, static_cast<long>(std::ceil(2 * settings.ticket_key_rotation_s)));
    // RFC 8446 §4.6.1: one ticket per full handshake is enough for a client
    // that reconnects one connection at a time.
    SSL_CTX_set_num_tickets(ctx, 1);
    static const unsigned char kSessionContext[] = "wsgate";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_callback);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
    // Kernel TLS needs the TLS 1.3 traffic secrets, which OpenSSL gives out
    // only through its key log (nothing is written anywhere).
    if (settings.kernel_tls) SSL_CTX_set_keylog_callback(ctx, ktls_key_log);
    return true;
}

}  // namespace

TlsServerContext::CertificateSet::~CertificateSet() {
    for (SSL_CTX* ctx : contexts)
        SSL_CTX_free(ctx);
}

std::unique_ptr<TlsServerContext::CertificateSet> TlsServerContext::make_set(
    const TlsSettings& settings, TicketKeys* keys, std::string* error) {
    if (settings.certificates.empty()) {
        *error = "TLS listeners need --tls-cert and --tls-key";
        return nullptr;
    }
    auto set = std::make_unique<CertificateSet>();
    for (const CertificateFiles& files : settings.certificates) {
        SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
        if (ctx == nullptr) {
            *error = "SSL_CTX_new: " + openssl_error();
            return nullptr;
        }
        set->contexts.push_back(ctx);
        if (!set_up(ctx, settings, files, error)) return nullptr;
        SSL_CTX_set_app_data(ctx, keys);
        set->names.push_back(leaf_names(ctx));
    }
    // RFC 6066 §3: the server name picks the certificate, early, while the
    // ClientHello is read (the first certificate when none matches).
    SSL_CTX_set_client_hello_cb(set->contexts.front(), on_client_hello_name, set.get());
    return set;
}

std::unique_ptr<TlsServerContext> TlsServerContext::create(const TlsSettings& settings,
                                                           std::string* error) {
    std::unique_ptr<TlsServerContext> server(new TlsServerContext);
    server->ticket_keys_ = std::make_unique<TicketKeys>(settings.ticket_key_rotation_s);
    std::unique_ptr<CertificateSet> set = make_set(settings, server->ticket_keys_.get(), error);
    if (!set) return nullptr;
    server->current_.store(set.get(), std::memory_order_release);
    server->sets_.push_back(std::move(set));
    server->kernel_tls_ = settings.kernel_tls;
    return server;
}

bool TlsServerContext::reload(const TlsSettings& settings, std::string* error) {
    std::lock_guard<std::mutex> lock(reload_mutex_);
    // Whether sessions go to the kernel was decided at start-up.
    TlsSettings same_kernel = settings;
    same_kernel.kernel_tls = kernel_tls_;
    std::unique_ptr<CertificateSet> set = make_set(same_kernel, ticket_keys_.get(), error);
    if (!set) return false;
    current_.store(set.get(), std::memory_order_release);
    sets_.push_back(std::move(set));
    return true;
}

TlsServerContext::~TlsServerContext() = default;

int TlsServerContext::on_client_hello_name(SSL* ssl, int*, void* arg) {
    auto* set = static_cast<const CertificateSet*>(arg);
    if (set->contexts.size() < 2) return SSL_CLIENT_HELLO_SUCCESS;
    // The server_name extension: list length (2), type host_name (1),
    // name length (2), name (RFC 6066 §3).
    const unsigned char* ext = nullptr;
    size_t len = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) != 1 || len < 5 ||
        ext[2] != TLSEXT_NAMETYPE_host_name) {
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    size_t name_len = (size_t{ext[3]} << 8) | ext[4];
    if (name_len == 0 || name_len > len - 5) return SSL_CLIENT_HELLO_SUCCESS;
    const char* name = reinterpret_cast<const char*>(ext + 5);
    for (size_t i = 1; i < set->contexts.size(); ++i) {
        X509* leaf = SSL_CTX_get0_certificate(set->contexts[i]);
        if (leaf != nullptr && X509_check_host(leaf, name, name_len, 0, nullptr) == 1) {
            SSL_set_SSL_CTX(ssl, set->contexts[i]);
            return SSL_CLIENT_HELLO_SUCCESS;
        }
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

std::string TlsServerContext::describe() const {
    const CertificateSet& set = *current_.load(std::memory_order_acquire);
    std::string out;
    for (size_t i = 0; i < set.contexts.size(); ++i) {
        if (i != 0) out += "; ";
        out += key_type(set.contexts[i]);
        out += ' ';
        out += set.names[i].empty() ? "(no name)" : set.names[i];
        if (i == 0) out += " (default)";
    }
    return out;
}

}  // namespace wsgate::tls
