// Session ticket keys (RFC 5077 §4's recommended ticket construction: AES-256
// CBC and HMAC-SHA256 over it, keyed by a 16-byte key name), replaced every
// rotation period. Each key is derived from the one before by a one-way
// step, and the older one is forgotten: a key that leaks opens the tickets
// of its own period and the next ones, never earlier ones. The first key is
// random, drawn when the server context is made, before --workers fork, so
// every worker derives the same keys and resumes the others' tickets.
// Shared by every loop: a mutex guards the rotation (taken once per full or
// resumed handshake, never per message).
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <mutex>

namespace wsgate::tls {

class TicketKeys {
  public:
    static constexpr size_t kNameBytes = 16;

    explicit TicketKeys(double rotation_s);

    // Sealing a new ticket: fills name and iv, sets up the cipher and MAC.
    // 1, or -1 on failure (OpenSSL then sends no ticket).
    int seal(unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac);
    // Opening a ticket: 1 (current key), 2 (the previous key: accepted, and
    // a new ticket is issued), 0 (unknown or expired key: full handshake).
    int open(const unsigned char* name, const unsigned char* iv, EVP_CIPHER_CTX* cipher,
             EVP_MAC_CTX* mac);

    // Rotations since start (tests, metrics).
    uint64_t rotations();

  private:
    struct Key {
        unsigned char name[kNameBytes];
        unsigned char aes[32];
        unsigned char hmac[32];
    };
    static void derive(const unsigned char* material, Key* key);
    void catch_up();  // under mutex_: rotates to the current period
    int64_t period_now() const;

    std::mutex mutex_;
    double rotation_s_;
    int64_t period_ = 0;
    unsigned char material_[32];
    Key current_{};
    Key previous_{};
    bool has_previous_ = false;
    uint64_t rotations_ = 0;
};

}  // namespace wsgate::tls
