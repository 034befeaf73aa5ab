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

void hash_slow(std::string_view client_key, uint8_t digest[kSha1DigestLength]) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx, client_key.data(), client_key.size()) != 1 ||
        EVP_DigestUpdate(ctx, kWebSocketGuid.data(), kWebSocketGuid.size()) != 1 ||
        EVP_DigestFinal_ex(ctx, digest, nullptr) != 1) {
        std::abort();  // only on allocation failure inside OpenSSL
    }
    EVP_MD_CTX_free(ctx);
}

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
    uint8_t digest[kSha1DigestLength];
    if (client_key.size() <= kMaxFastKeyLength) {
        char input[kMaxFastKeyLength + kWebSocketGuid.size()];
        if (!client_key.empty()) std::memcpy(input, client_key.data(), client_key.size());
        std::memcpy(input + client_key.size(), kWebSocketGuid.data(), kWebSocketGuid.size());
        SHA1(reinterpret_cast<const unsigned char*>(input),
             client_key.size() + kWebSocketGuid.size(), digest);
    } else {
        hash_slow(client_key, digest);
    }
    base64_digest(digest, out);
}

}  // namespace wsgate::proto
