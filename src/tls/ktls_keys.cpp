#include "tls/ktls_keys.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <cstddef>
#include <cstring>
#include <string_view>

namespace wsgate::tls {

namespace {

// What differs between the three AEAD suites the kernel takes.
struct Suite {
    int nid;
    uint16_t cipher_type;
    size_t key_len;
    size_t tls12_fixed_iv;  // RFC 5288 §3: 4 (GCM); RFC 7905 §2: 12 (ChaCha20)
    socklen_t info_size;
    const char* name;
};

constexpr Suite kSuites[] = {
    {NID_aes_128_gcm, TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_128_KEY_SIZE, 4,
     sizeof(tls12_crypto_info_aes_gcm_128), "AES-128-GCM"},
    {NID_aes_256_gcm, TLS_CIPHER_AES_GCM_256, TLS_CIPHER_AES_GCM_256_KEY_SIZE, 4,
     sizeof(tls12_crypto_info_aes_gcm_256), "AES-256-GCM"},
    {NID_chacha20_poly1305, TLS_CIPHER_CHACHA20_POLY1305, TLS_CIPHER_CHACHA20_POLY1305_KEY_SIZE,
     TLS_CIPHER_CHACHA20_POLY1305_IV_SIZE, sizeof(ChaCha20Poly1305Info), "CHACHA20-POLY1305"},
};

// The AEAD nonce is 12 bytes in every suite here (RFC 8446 §5.3 iv_length,
// RFC 5288 §3 salt + nonce_explicit, RFC 7905 §2).
constexpr size_t kNonceBytes = 12;
constexpr size_t kMaxKey = 32;

// One direction's write key and its 12-byte IV: TLS 1.3 and ChaCha20 the
// static IV; TLS 1.2 GCM the 4-byte salt followed by the explicit nonce of
// the next record.
struct WriteKeys {
    uint8_t key[kMaxKey];
    uint8_t iv[kNonceBytes];
};

void put_be64(uint8_t* out, uint64_t v) {
    for (int i = 7; i >= 0; --i) {
        out[i] = static_cast<uint8_t>(v);
        v >>= 8;
    }
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

template <class Info>
void fill_layout(Info* out, const Suite& suite, const WriteKeys& k, uint64_t seq) {
    constexpr size_t salt = sizeof(out->salt);
    static_assert(salt + sizeof(out->iv) == kNonceBytes);
    std::memcpy(out->salt, k.iv, salt);
    std::memcpy(out->iv, k.iv + salt, sizeof(out->iv));
    std::memcpy(out->key, k.key, suite.key_len);
    static_assert(sizeof(out->rec_seq) == 8);
    put_be64(out->rec_seq, seq);
}

using KernelChaCha = tls12_crypto_info_chacha20_poly1305;
static_assert(sizeof(ChaCha20Poly1305Info) == sizeof(KernelChaCha));
static_assert(offsetof(ChaCha20Poly1305Info, iv) == offsetof(KernelChaCha, iv));
static_assert(offsetof(ChaCha20Poly1305Info, key) == offsetof(KernelChaCha, key));
static_assert(offsetof(ChaCha20Poly1305Info, rec_seq) == offsetof(KernelChaCha, rec_seq));

// ChaCha20-Poly1305 has no salt: the whole 12-byte IV is static.
void fill_chacha(ChaCha20Poly1305Info* out, const WriteKeys& k, uint64_t seq) {
    static_assert(sizeof(out->iv) == kNonceBytes);
    std::memcpy(out->iv, k.iv, sizeof(out->iv));
    std::memcpy(out->key, k.key, sizeof(out->key));
    put_be64(out->rec_seq, seq);
}

void fill(KernelCryptoInfo* out, int version, const Suite& suite, const WriteKeys& k,
          uint64_t seq) {
    std::memset(out, 0, sizeof(*out));
    out->info.version = version == TLS1_3_VERSION ? TLS_1_3_VERSION : TLS_1_2_VERSION;
    out->info.cipher_type = suite.cipher_type;
    switch (suite.cipher_type) {
        case TLS_CIPHER_AES_GCM_128:
            fill_layout(&out->aes_gcm_128, suite, k, seq);
            break;
        case TLS_CIPHER_AES_GCM_256:
            fill_layout(&out->aes_gcm_256, suite, k, seq);
            break;
        default:
            fill_chacha(&out->chacha20_poly1305, k, seq);
            break;
    }
}

EVP_KDF* fetch_kdf(const char* name) {
    return EVP_KDF_fetch(nullptr, name, nullptr);  // kept for the process's life
}

bool derive(EVP_KDF* kdf, OSSL_PARAM* params, uint8_t* out, size_t out_len) {
    if (kdf == nullptr) return false;
    EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
    bool ok = ctx != nullptr && EVP_KDF_derive(ctx, out, out_len, params) == 1;
    EVP_KDF_CTX_free(ctx);
    return ok;
}

// HKDF-Expand-Label(secret, label, "", out_len) (RFC 8446 §7.1).
bool expand_label(const EVP_MD* md, const uint8_t* secret, size_t secret_len, const char* label,
                  uint8_t* out, size_t out_len) {
    static EVP_KDF* kdf = fetch_kdf(OSSL_KDF_NAME_TLS1_3_KDF);
    static const char kPrefix[] = "tls13 ";
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                         const_cast<char*>(EVP_MD_get0_name(md)), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(secret),
                                          secret_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, const_cast<char*>(kPrefix),
                                          sizeof(kPrefix) - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, const_cast<char*>(label),
                                          std::strlen(label)),
        OSSL_PARAM_construct_end(),
    };
    return derive(kdf, params, out, out_len);
}

// RFC 8446 §7.3: [sender]_write_key / _iv from the traffic secret.
bool tls13_write_keys(const EVP_MD* md, const uint8_t* secret, size_t secret_len,
                      const Suite& suite, WriteKeys* out) {
    return expand_label(md, secret, secret_len, "key", out->key, suite.key_len) &&
           expand_label(md, secret, secret_len, "iv", out->iv, kNonceBytes);
}

// RFC 5246 §6.3: key_block = PRF(master_secret, "key expansion",
// server_random + client_random), cut into client and server write keys
// then client and server IVs (AEAD suites have no MAC keys).
bool tls12_write_keys(const SSL* ssl, const EVP_MD* md, const Suite& suite, uint64_t tx_seq,
                      uint64_t rx_seq, WriteKeys* server, WriteKeys* client) {
    static EVP_KDF* kdf = fetch_kdf(OSSL_KDF_NAME_TLS1_PRF);
    static constexpr std::string_view kLabel = "key expansion";
    constexpr size_t kRandom = SSL3_RANDOM_SIZE;
    uint8_t seed[kLabel.size() + 2 * kRandom];
    std::memcpy(seed, kLabel.data(), kLabel.size());
    if (SSL_get_server_random(ssl, seed + kLabel.size(), kRandom) != kRandom ||
        SSL_get_client_random(ssl, seed + kLabel.size() + kRandom, kRandom) != kRandom) {
        return false;
    }
    uint8_t master[SSL_MAX_MASTER_KEY_LENGTH];
    size_t master_len = SSL_SESSION_get_master_key(SSL_get_session(ssl), master, sizeof(master));
    if (master_len == 0) return false;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                         const_cast<char*>(EVP_MD_get0_name(md)), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master, master_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed)),
        OSSL_PARAM_construct_end(),
    };
    uint8_t block[2 * kMaxKey + 2 * kNonceBytes];
    size_t k = suite.key_len;
    size_t f = suite.tls12_fixed_iv;
    bool ok = derive(kdf, params, block, 2 * k + 2 * f);
    OPENSSL_cleanse(master, sizeof(master));
    if (ok) {
        std::memcpy(client->key, block, k);
        std::memcpy(server->key, block + k, k);
        std::memcpy(client->iv, block + 2 * k, f);
        std::memcpy(server->iv, block + 2 * k + f, f);
        // GCM: the explicit part of the nonce (RFC 5288 §3) only has to be
        // unique per key; the kernel sends the value given and adds one per
        // record, so starting at the sequence number keeps it the sequence
        // number (the receiver reads it from each record).
        if (f < kNonceBytes) {
            put_be64(server->iv + f, tx_seq);
            put_be64(client->iv + f, rx_seq);
        }
    }
    OPENSSL_cleanse(block, sizeof(block));
    return ok;
}

}  // namespace

SecretKind take_key_log_line(const char* line, TrafficSecrets* secrets) {
    static constexpr std::string_view kClient = "CLIENT_TRAFFIC_SECRET_0 ";
    static constexpr std::string_view kServer = "SERVER_TRAFFIC_SECRET_0 ";
    constexpr size_t kRandomHex = 2 * SSL3_RANDOM_SIZE;
    std::string_view text(line);
    SecretKind kind = SecretKind::none;
    if (text.starts_with(kClient)) {
        kind = SecretKind::client_application;
    } else if (text.starts_with(kServer)) {
        kind = SecretKind::server_application;
    } else {
        return SecretKind::none;
    }
    text.remove_prefix(kClient.size());
    if (text.size() < kRandomHex + 1 || text[kRandomHex] != ' ') return SecretKind::none;
    text.remove_prefix(kRandomHex + 1);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.remove_suffix(1);
    if (text.empty() || text.size() % 2 != 0 || text.size() / 2 > TrafficSecrets::kMaxSecret) {
        return SecretKind::none;
    }
    uint8_t value[TrafficSecrets::kMaxSecret];
    for (size_t i = 0; i < text.size() / 2; ++i) {
        int hi = hex_value(text[2 * i]);
        int lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return SecretKind::none;
        value[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    auto len = static_cast<uint8_t>(text.size() / 2);
    bool client = kind == SecretKind::client_application;
    std::memcpy(client ? secrets->client : secrets->server, value, len);
    (client ? secrets->client_len : secrets->server_len) = len;
    OPENSSL_cleanse(value, sizeof(value));
    return kind;
}

const char* derive_kernel_keys(const SSL* ssl, const TrafficSecrets& secrets, uint64_t tx_seq,
                               uint64_t rx_seq, KernelKeys* out) {
    int version = SSL_version(ssl);
    if (version != TLS1_2_VERSION && version != TLS1_3_VERSION) return "not TLS 1.2 or 1.3";
    const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
    if (cipher == nullptr) return "no cipher";
    int nid = SSL_CIPHER_get_cipher_nid(cipher);
    const Suite* suite = nullptr;
    for (const Suite& s : kSuites) {
        if (s.nid == nid) suite = &s;
    }
    if (suite == nullptr) return "cipher not offered by kernel TLS";
    const EVP_MD* md = SSL_CIPHER_get_handshake_digest(cipher);
    if (md == nullptr) return "no handshake digest";
    WriteKeys server{};
    WriteKeys client{};
    bool ok = false;
    if (version == TLS1_3_VERSION) {
        if (secrets.client_len == 0 || secrets.server_len == 0) return "traffic secrets not logged";
        ok = tls13_write_keys(md, secrets.server, secrets.server_len, *suite, &server) &&
             tls13_write_keys(md, secrets.client, secrets.client_len, *suite, &client);
    } else {
        ok = tls12_write_keys(ssl, md, *suite, tx_seq, rx_seq, &server, &client);
    }
    if (ok) {
        fill(&out->tx, version, *suite, server, tx_seq);
        fill(&out->rx, version, *suite, client, rx_seq);
        out->size = suite->info_size;
        out->cipher = suite->name;
    }
    OPENSSL_cleanse(&server, sizeof(server));
    OPENSSL_cleanse(&client, sizeof(client));
    return ok ? nullptr : "key derivation failed";
}

}  // namespace wsgate::tls
