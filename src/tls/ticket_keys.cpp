#include "tls/ticket_keys.hpp"

#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <time.h>

#include <cstring>

namespace wsgate::tls {

namespace {

void sha256_of(const char* label, const unsigned char* material, unsigned char* out) {
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    unsigned int len = 0;
    EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
    EVP_DigestUpdate(md, label, std::strlen(label));
    EVP_DigestUpdate(md, material, 32);
    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
}

int set_up(const unsigned char* aes, const unsigned char* hmac, const unsigned char* iv,
           EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, bool seal) {
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(hmac), 32),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
    int ok = seal ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, aes, iv)
                  : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, aes, iv);
    return ok == 1 ? 1 : -1;
}

}  // namespace

TicketKeys::TicketKeys(double rotation_s) : rotation_s_(rotation_s) {
    RAND_bytes(material_, sizeof(material_));
    derive(material_, &current_);
    period_ = period_now();
}

void TicketKeys::derive(const unsigned char* material, Key* key) {
    unsigned char bytes[32];
    sha256_of("wsgate ticket name", material, bytes);
    std::memcpy(key->name, bytes, kNameBytes);
    sha256_of("wsgate ticket aes", material, key->aes);
    sha256_of("wsgate ticket hmac", material, key->hmac);
}

int64_t TicketKeys::period_now() const {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    double s = static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
    return static_cast<int64_t>(s / rotation_s_);
}

void TicketKeys::catch_up() {
    int64_t now = period_now();
    while (period_ < now) {
        previous_ = current_;
        has_previous_ = period_ + 1 == now;  // older than one period: not accepted
        unsigned char next[32];
        sha256_of("wsgate ticket next", material_, next);
        std::memcpy(material_, next, sizeof(material_));
        OPENSSL_cleanse(next, sizeof(next));
        derive(material_, &current_);
        ++period_;
        ++rotations_;
    }
}

int TicketKeys::seal(unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                     EVP_MAC_CTX* mac) {
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) return -1;
    std::lock_guard<std::mutex> lock(mutex_);
    catch_up();
    std::memcpy(name, current_.name, kNameBytes);
    return set_up(current_.aes, current_.hmac, iv, cipher, mac, true);
}

int TicketKeys::open(const unsigned char* name, const unsigned char* iv, EVP_CIPHER_CTX* cipher,
                     EVP_MAC_CTX* mac) {
    std::lock_guard<std::mutex> lock(mutex_);
    catch_up();
    // 2 = valid, and issue a fresh ticket: RFC 8446 §C.4 asks TLS 1.3 clients
    // not to use a ticket twice (OpenSSL's client does not), so a resumed
    // connection without a new ticket leaves its client a full handshake next.
    if (std::memcmp(name, current_.name, kNameBytes) == 0) {
        return set_up(current_.aes, current_.hmac, iv, cipher, mac, false) == 1 ? 2 : 0;
    }
    if (has_previous_ && std::memcmp(name, previous_.name, kNameBytes) == 0) {
        return set_up(previous_.aes, previous_.hmac, iv, cipher, mac, false) == 1 ? 2 : 0;
    }
    return 0;
}

uint64_t TicketKeys::rotations() {
    std::lock_guard<std::mutex> lock(mutex_);
    catch_up();
    return rotations_;
}

}  // namespace wsgate::tls
