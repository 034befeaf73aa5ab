// The session keys of an established connection in the form the kernel's
// tls ULP takes them (setsockopt(SOL_TLS, TLS_TX / TLS_RX), <linux/tls.h>),
// for TLS 1.2 and 1.3 with AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305.
//
// OpenSSL keeps its record keys to itself; they are derived again here from
// what it does expose, with its own KDFs (no hand-written crypto):
//   TLS 1.3: the application traffic secrets (from the key log callback)
//            -> HKDF-Expand-Label(secret, "key" / "iv", "", len)
//            (RFC 8446 §7.3), EVP_KDF "TLS13-KDF";
//   TLS 1.2: the master secret and both randoms -> key block
//            PRF(master, "key expansion", server_random + client_random)
//            (RFC 5246 §6.3), EVP_KDF "TLS1-PRF"; AEAD suites have no MAC
//            keys, their fixed IV is 4 bytes for GCM (RFC 5288 §3) and 12 for
//            ChaCha20-Poly1305 (RFC 7905 §2).
// The server transmits with the server keys and receives with the client's.
#pragma once

#include <linux/tls.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cstdint>

namespace wsgate::tls {

// The TLS 1.3 application traffic secrets (RFC 8446 §7.1), as the key log
// hands them over; a length of 0: not seen yet.
struct TrafficSecrets {
    static constexpr size_t kMaxSecret = 48;  // SHA-384
    uint8_t client[kMaxSecret] = {};
    uint8_t server[kMaxSecret] = {};
    uint8_t client_len = 0;
    uint8_t server_len = 0;
};

enum class SecretKind : uint8_t { none, client_application, server_application };

// Reads one NSS key log line ("LABEL <client random hex> <secret hex>") and
// keeps the secret if it is CLIENT_TRAFFIC_SECRET_0 or
// SERVER_TRAFFIC_SECRET_0 (which it returns); other labels and malformed
// lines: none, nothing kept.
SecretKind take_key_log_line(const char* line, TrafficSecrets* secrets);

// The kernel's tls12_crypto_info_chacha20_poly1305 without its zero-length
// salt array (which ISO C++ cannot hold in a union); same layout, checked
// in ktls_keys.cpp.
struct ChaCha20Poly1305Info {
    tls_crypto_info info;
    unsigned char iv[TLS_CIPHER_CHACHA20_POLY1305_IV_SIZE];
    unsigned char key[TLS_CIPHER_CHACHA20_POLY1305_KEY_SIZE];
    unsigned char rec_seq[TLS_CIPHER_CHACHA20_POLY1305_REC_SEQ_SIZE];
};

// One direction's parameters, any of the three layouts; `info` says which.
union KernelCryptoInfo {
    tls_crypto_info info;
    tls12_crypto_info_aes_gcm_128 aes_gcm_128;
    tls12_crypto_info_aes_gcm_256 aes_gcm_256;
    ChaCha20Poly1305Info chacha20_poly1305;
};

struct KernelKeys {
    KernelCryptoInfo tx;  // server -> client
    KernelCryptoInfo rx;  // client -> server
    socklen_t size = 0;   // of the layout in use (setsockopt's optlen)
    const char* cipher = "";
};

// The keys of ssl's established session, the next record to send being
// number tx_seq and the next to receive rx_seq. secrets: TLS 1.3 only.
// Returns nullptr, or why the session cannot be handed to the kernel
// (another version or cipher, a secret missing, a KDF failure), static text.
// The caller wipes *out (OPENSSL_cleanse) once it is used.
const char* derive_kernel_keys(const SSL* ssl, const TrafficSecrets& secrets, uint64_t tx_seq,
                               uint64_t rx_seq, KernelKeys* out);

}  // namespace wsgate::tls
