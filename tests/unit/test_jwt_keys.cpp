// RS256 / ES256 connection tokens (proto/jwt_keys.hpp, TokenVerifier): keys
// made here with OpenSSL, tokens signed here, from PEM and from a JWK Set.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <string>
#include <vector>

#include "proto/jwt_hs256.hpp"
#include "proto/jwt_keys.hpp"

namespace wsgate::proto::jwt {
namespace {

std::string base64url(const unsigned char* p, size_t n) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; ++i) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += kAlphabet[(acc >> bits) & 63];
        }
    }
    if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
    return out;
}
std::string base64url(std::string_view s) {
    return base64url(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

struct KeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

Key rsa(unsigned bits) {
    return Key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
}
Key p256() {
    return Key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
}

std::string public_pem(EVP_PKEY* key) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
}

// header.claims signed with key: RS256 as is, ES256 as R || S (RFC 7518 §3.4).
std::string sign(EVP_PKEY* key, std::string_view header, std::string_view claims) {
    std::string input = base64url(header) + "." + base64url(claims);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::vector<unsigned char> sig(len);
    EVP_DigestSign(ctx, sig.data(), &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
        const unsigned char* p = sig.data();
        ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
        unsigned char rs[64];
        BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + 32, 32);
        ECDSA_SIG_free(es);
        return input + "." + base64url(rs, 64);
    }
    return input + "." + base64url(sig.data(), sig.size());
}

std::string jwk_number(EVP_PKEY* key, const char* name, size_t pad = 0) {
    BIGNUM* bn = nullptr;
    EVP_PKEY_get_bn_param(key, name, &bn);
    std::vector<unsigned char> raw(pad != 0 ? pad : static_cast<size_t>(BN_num_bytes(bn)));
    BN_bn2binpad(bn, raw.data(), static_cast<int>(raw.size()));
    BN_free(bn);
    return base64url(raw.data(), raw.size());
}

std::string rsa_jwk(EVP_PKEY* key, std::string_view kid) {
    return R"({"kty":"RSA","kid":")" + std::string(kid) + R"(","n":")" +
           jwk_number(key, OSSL_PKEY_PARAM_RSA_N) + R"(","e":")" +
           jwk_number(key, OSSL_PKEY_PARAM_RSA_E) + R"("})";
}
std::string ec_jwk(EVP_PKEY* key, std::string_view kid) {
    return R"({"kty":"EC","crv":"P-256","kid":")" + std::string(kid) + R"(","x":")" +
           jwk_number(key, OSSL_PKEY_PARAM_EC_PUB_X, 32) + R"(","y":")" +
           jwk_number(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32) + R"("})";
}

constexpr std::string_view kClaims = R"({"sub":"alice"})";
constexpr int64_t kNow = 1700000000;

TEST(JwtKeys, Rs256AndEs256FromPem) {
    Key r = rsa(2048), e = p256(), other = rsa(2048);
    auto set = std::make_shared<PublicKeySet>();
    ASSERT_EQ(set->add_pem(public_pem(r.get()), KeyType::rsa), "");
    ASSERT_EQ(set->add_pem(public_pem(e.get()), KeyType::ec_p256), "");
    KeyRing ring(set);
    TokenVerifier v("", &ring);
    Claims c;
    EXPECT_EQ(v.verify(sign(r.get(), R"({"alg":"RS256"})", kClaims), kNow, c), JwtError::none);
    EXPECT_EQ(c.sub, "alice");
    EXPECT_EQ(v.verify(sign(e.get(), R"({"alg":"ES256"})", kClaims), kNow, c), JwtError::none);
    EXPECT_EQ(v.verify(sign(other.get(), R"({"alg":"RS256"})", kClaims), kNow, c),
              JwtError::bad_signature);
    // An RS256 signature presented as ES256 and the other way round.
    EXPECT_EQ(v.verify(sign(r.get(), R"({"alg":"ES256"})", kClaims), kNow, c),
              JwtError::bad_signature);
    EXPECT_EQ(v.verify(sign(e.get(), R"({"alg":"RS256"})", kClaims), kNow, c),
              JwtError::bad_signature);
    std::string t = sign(r.get(), R"({"alg":"RS256"})", kClaims);
    t[t.find('.') + 2] ^= 1;  // claims changed after signing
    EXPECT_NE(v.verify(t, kNow, c), JwtError::none);
    // No HMAC secret: HS256 is not accepted (no algorithm confusion).
    EXPECT_EQ(v.verify(sign(r.get(), R"({"alg":"HS256"})", kClaims), kNow, c),
              JwtError::unsupported_alg);
}

TEST(JwtKeys, WithoutKeysPublicKeyAlgorithmsAreUnsupported) {
    Key r = rsa(2048);
    TokenVerifier v("secret");
    Claims c;
    EXPECT_EQ(v.verify(sign(r.get(), R"({"alg":"RS256"})", kClaims), kNow, c),
              JwtError::unsupported_alg);
}

TEST(JwtKeys, JwksByKidAndSwappedWhole) {
    Key r1 = rsa(2048), e1 = p256(), r2 = rsa(2048);
    auto set = std::make_shared<PublicKeySet>();
    ASSERT_EQ(set->add_jwks(R"({"keys":[)" + rsa_jwk(r1.get(), "r1") + "," +
                            ec_jwk(e1.get(), "e1") + R"(,{"kty":"oct","k":"c2VjcmV0"},)" +
                            R"({"kty":"RSA","use":"enc","kid":"x","n":"AQAB","e":"AQAB"}]})"),
              "");
    EXPECT_EQ(set->size(), 2u);
    KeyRing ring(set);
    TokenVerifier v("", &ring);
    Claims c;
    EXPECT_EQ(v.verify(sign(r1.get(), R"({"alg":"RS256","kid":"r1"})", kClaims), kNow, c),
              JwtError::none);
    EXPECT_EQ(v.verify(sign(e1.get(), R"({"alg":"ES256","kid":"e1"})", kClaims), kNow, c),
              JwtError::none);
    EXPECT_EQ(v.verify(sign(r1.get(), R"({"alg":"RS256","kid":"nope"})", kClaims), kNow, c),
              JwtError::bad_signature);
    auto rotated = std::make_shared<PublicKeySet>();
    ASSERT_EQ(rotated->add_jwks(R"({"keys":[)" + rsa_jwk(r2.get(), "r2") + "]}"), "");
    ring.store(rotated);
    EXPECT_EQ(v.verify(sign(r1.get(), R"({"alg":"RS256","kid":"r1"})", kClaims), kNow, c),
              JwtError::bad_signature);
    EXPECT_EQ(v.verify(sign(r2.get(), R"({"alg":"RS256","kid":"r2"})", kClaims), kNow, c),
              JwtError::none);
}

TEST(JwtKeys, RefusesWeakOrWrongKeys) {
    Key small = rsa(1024), e = p256();
    PublicKeySet set;
    EXPECT_NE(set.add_pem(public_pem(small.get()), KeyType::rsa), "");
    EXPECT_NE(set.add_pem(public_pem(e.get()), KeyType::rsa), "");
    EXPECT_NE(set.add_pem("not a key", KeyType::ec_p256), "");
    EXPECT_NE(set.add_jwks(R"({"keys":[]})"), "");
    EXPECT_NE(set.add_jwks(R"({"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]})"), "");
    EXPECT_NE(set.add_jwks("[]"), "");
    EXPECT_TRUE(set.empty());
}

}  // namespace
}  // namespace wsgate::proto::jwt
