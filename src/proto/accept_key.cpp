#include "proto/accept_key.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <cstring>

namespace wsgate::proto {

static_assert(SHA_DIGEST_LENGTH == kSha1DigestLength);
static_assert(kAcceptKeyLength == (kSha1DigestLength + 2) / 3 * 4);

namespace {

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr uint32_t kSextet = 0x3F;

// OpenSSL 3 resolves EVP_sha1() through a provider lookup at every init;
// an explicitly fetched EVP_MD and a reused context skip that.
class Sha1Hasher {
  public:
    Sha1Hasher() : ctx_(EVP_MD_CTX_new()) {
        if (ctx_ == nullptr) std::abort();
    }
    Sha1Hasher(const Sha1Hasher&) = delete;
    Sha1Hasher& operator=(const Sha1Hasher&) = delete;
    ~Sha1Hasher() { EVP_MD_CTX_free(ctx_); }

    void hash(std::string_view a, std::string_view b, uint8_t digest[kSha1DigestLength]) {
        if (EVP_DigestInit_ex2(ctx_, sha1(), nullptr) != 1 ||
            EVP_DigestUpdate(ctx_, a.data(), a.size()) != 1 ||
            EVP_DigestUpdate(ctx_, b.data(), b.size()) != 1 ||
            EVP_DigestFinal_ex(ctx_, digest, nullptr) != 1) {
            std::abort();  // SHA-1 is always available in libcrypto's default provider
        }
    }

  private:
    static const EVP_MD* sha1() {
        static const EVP_MD* md = [] {
            const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA1", nullptr);
            if (fetched == nullptr) std::abort();
            return fetched;
        }();
        return md;
    }

    EVP_MD_CTX* ctx_;
};

}  // namespace

void base64_digest(const uint8_t digest[kSha1DigestLength], char out[kAcceptKeyLength]) {
    // 20 bytes = 6 full groups of 3 plus 2 bytes, which give 3 characters and one '='.
    size_t i = 0;
    char* o = out;
    for (; i + 3 <= kSha1DigestLength; i += 3) {
        uint32_t v = uint32_t{digest[i]} << 16 | uint32_t{digest[i + 1]} << 8 | digest[i + 2];
        *o++ = kBase64Alphabet[v >> 18];
        *o++ = kBase64Alphabet[(v >> 12) & kSextet];
        *o++ = kBase64Alphabet[(v >> 6) & kSextet];
        *o++ = kBase64Alphabet[v & kSextet];
    }
    uint32_t v = uint32_t{digest[i]} << 16 | uint32_t{digest[i + 1]} << 8;
    *o++ = kBase64Alphabet[v >> 18];
    *o++ = kBase64Alphabet[(v >> 12) & kSextet];
    *o++ = kBase64Alphabet[(v >> 6) & kSextet];
    *o = '=';
}

void base64_digest_evp(const uint8_t digest[kSha1DigestLength], char out[kAcceptKeyLength]) {
    unsigned char encoded[kAcceptKeyLength + 1];  // EVP_EncodeBlock adds a NUL
    EVP_EncodeBlock(encoded, digest, static_cast<int>(kSha1DigestLength));
    std::memcpy(out, encoded, kAcceptKeyLength);
}

void compute_accept_key(std::string_view client_key, char out[kAcceptKeyLength]) {
    thread_local Sha1Hasher hasher;
    uint8_t digest[kSha1DigestLength];
    hasher.hash(client_key, kWebSocketGuid, digest);
    base64_digest(digest, out);
}

}  // namespace wsgate::proto
