#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <string_view>
#include <vector>

#include "guard_page.hpp"
#include "proto/jwt_hs256.hpp"

namespace wsgate::proto::jwt {
namespace {

std::string base64url(std::string_view bytes) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (unsigned char c : bytes) {
        acc = (acc << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += kAlphabet[(acc >> bits) & 63];
        }
    }
    if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
    return out;
}

// The test's token maker: header and claims JSON as given, signed with
// `secret` (or with a garbage signature when `secret` is empty).
std::string make_token(std::string_view header, std::string_view claims, std::string_view secret) {
    std::string signing_input = base64url(header) + "." + base64url(claims);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
         &mac_len);
    return signing_input + "." +
           base64url(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

constexpr std::string_view kSecret = "wsgate-test-secret";
constexpr std::string_view kHs256 = R"({"alg":"HS256","typ":"JWT"})";
constexpr int64_t kNow = 1800000000;

// Made by another implementation (python3 hmac + base64, see the commit
// message): {"sub":"42","exp":2000000000,"iat":1700000000,"info":{"name":"Alice"}}
// signed with kSecret.
constexpr std::string_view kPythonToken =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiI0MiIsImV4cCI6MjAwMDAwMDAwMCwiaWF0IjoxNzAwMDAwMDAwLCJpbmZvIjp7Im5hbWUiOiJBbGljZSJ9fQ"
    "."
    "v4pCZ3KFpVL5L-qS7jkcAAGSWePO4aYbA84T6O4CaBk";

TEST(Jwt, TokenMadeByPython) {
    TokenVerifier v(kSecret);
    Claims c;
    ASSERT_EQ(v.verify(kPythonToken, kNow, c), JwtError::none);
    EXPECT_EQ(c.sub, "42");
    EXPECT_EQ(c.exp, 2000000000);
    EXPECT_EQ(c.iat, 1700000000);
    EXPECT_EQ(c.info, R"({"name":"Alice"})");
    // The helper makes the same bytes.
    EXPECT_EQ(
        make_token(R"({"alg":"HS256","typ":"JWT"})",
                   R"({"sub":"42","exp":2000000000,"iat":1700000000,"info":{"name":"Alice"}})",
                   kSecret),
        kPythonToken);
}

// RFC 7515 Appendix A.1: the HS256 example, its key given as a JWK.
TEST(Jwt, Rfc7515AppendixA1) {
    constexpr std::string_view kKey =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    constexpr std::string_view kToken =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cn"
        "VlfQ."
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    std::vector<uint8_t> key(64);
    long n = base64url_decode(kKey, key);
    ASSERT_EQ(n, 64);
    TokenVerifier v(std::string_view(reinterpret_cast<const char*>(key.data()), 64));
    Claims c;
    EXPECT_EQ(v.verify(kToken, 1300819379, c), JwtError::none);
    EXPECT_EQ(c.exp, 1300819380);
    EXPECT_EQ(c.sub, "");
    EXPECT_EQ(v.verify(kToken, 1300819380, c), JwtError::expired);
}

TEST(Jwt, ExpiryBoundaryAndNotBefore) {
    TokenVerifier v(kSecret);
    Claims c;
    std::string t = make_token(kHs256, R"({"sub":"u","exp":100})", kSecret);
    EXPECT_EQ(v.verify(t, 99, c), JwtError::none);
    EXPECT_EQ(v.verify(t, 100, c), JwtError::expired);
    EXPECT_TRUE(is_token_expired(JwtError::expired));
    EXPECT_FALSE(is_token_expired(JwtError::bad_signature));
    t = make_token(kHs256, R"({"sub":"u","nbf":50,"exp":100})", kSecret);
    EXPECT_EQ(v.verify(t, 49, c), JwtError::not_yet_valid);
    EXPECT_EQ(v.verify(t, 50, c), JwtError::none);
    t = make_token(kHs256, R"({"sub":"u","exp":100.9})", kSecret);
    EXPECT_EQ(v.verify(t, 99, c), JwtError::none);
    EXPECT_EQ(c.exp, 100);
    t = make_token(kHs256, R"({"sub":"u"})", kSecret);  // no exp: never expires
    EXPECT_EQ(v.verify(t, INT64_MAX, c), JwtError::none);
    EXPECT_EQ(c.exp, 0);
}

TEST(Jwt, WrongSecretAndTamperedParts) {
    TokenVerifier v(kSecret);
    Claims c;
    std::string other = make_token(kHs256, R"({"sub":"42"})", "other secret");
    EXPECT_EQ(v.verify(other, kNow, c), JwtError::bad_signature);
    std::string good = make_token(kHs256, R"({"sub":"42"})", kSecret);
    ASSERT_EQ(v.verify(good, kNow, c), JwtError::none);
    // Claims swapped for another user, signature kept.
    size_t dot1 = good.find('.');
    size_t dot2 = good.rfind('.');
    std::string forged = good.substr(0, dot1 + 1) + base64url(R"({"sub":"1"})") + good.substr(dot2);
    EXPECT_EQ(v.verify(forged, kNow, c), JwtError::bad_signature);
    // Every single-character change of the signature.
    for (size_t i = dot2 + 1; i < good.size(); ++i) {
        std::string t = good;
        t[i] = t[i] == 'A' ? 'B' : 'A';
        JwtError e = v.verify(t, kNow, c);
        EXPECT_TRUE(e == JwtError::bad_signature) << i;
    }
    // A signature cut short, or made longer.
    EXPECT_EQ(v.verify(good.substr(0, good.size() - 1), kNow, c), JwtError::bad_signature);
    EXPECT_EQ(v.verify(good + "AAAA", kNow, c), JwtError::bad_signature);
}

TEST(Jwt, AlgorithmIsPinned) {
    TokenVerifier v(kSecret);
    Claims c;
    // alg none with an empty signature (RFC 7519 §6.1): refused.
    std::string none = base64url(R"({"alg":"none"})") + "." + base64url(R"({"sub":"42"})") + ".";
    EXPECT_EQ(v.verify(none, kNow, c), JwtError::unsupported_alg);
    EXPECT_EQ(v.verify(make_token(R"({"alg":"HS512"})", R"({"sub":"42"})", kSecret), kNow, c),
              JwtError::unsupported_alg);
    EXPECT_EQ(v.verify(make_token(R"({"alg":"RS256"})", R"({"sub":"42"})", kSecret), kNow, c),
              JwtError::unsupported_alg);
    EXPECT_EQ(v.verify(make_token(R"({"alg":"hs256"})", R"({"sub":"42"})", kSecret), kNow, c),
              JwtError::unsupported_alg);
    EXPECT_EQ(v.verify(make_token(R"({"typ":"JWT"})", R"({"sub":"42"})", kSecret), kNow, c),
              JwtError::unsupported_alg);
    EXPECT_EQ(v.verify(make_token(R"({"alg":"HS256","crit":["exp"]})", R"({"sub":"42"})", kSecret),
                       kNow, c),
              JwtError::unsupported_alg);
    EXPECT_EQ(v.verify(make_token(R"({"alg":5})", R"({"sub":"42"})", kSecret), kNow, c),
              JwtError::malformed);
}

TEST(Jwt, MalformedTokens) {
    TokenVerifier v(kSecret);
    Claims c;
    const std::string cases[] = {
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "..",
        "!!!." + base64url("{}") + ".x",
        base64url(kHs256) + "=." + base64url("{}") + ".x",
        make_token("not json", R"({"sub":"42"})", kSecret),
        make_token("[1]", R"({"sub":"42"})", kSecret),
        make_token(kHs256, "not json", kSecret),
        make_token(kHs256, R"(["sub"])", kSecret),
        make_token(kHs256, R"({"sub":42})", kSecret),
        make_token(kHs256, R"({"sub":"4","exp":"soon"})", kSecret),
        make_token(kHs256, R"({"sub":"4","exp":1e})", kSecret),
        make_token(kHs256, R"({"sub":"4","x":tru})", kSecret),
        make_token(kHs256, R"({"sub":"4"} trailing)", kSecret),
        make_token(kHs256, R"({"sub":"4","info":{"a":})", kSecret),
        std::string(kMaxTokenBytes + 1, 'a'),
    };
    for (const std::string& t : cases) {
        JwtError e = v.verify(t, kNow, c);
        EXPECT_NE(e, JwtError::none) << t;
        EXPECT_NE(e, JwtError::expired) << t;
    }
    EXPECT_EQ(v.verify(make_token(kHs256, R"({"sub":42})", kSecret), kNow, c), JwtError::malformed);
}

TEST(Jwt, Base64urlDecoding) {
    uint8_t out[8];
    EXPECT_EQ(base64url_decode("", out), 0);
    EXPECT_EQ(base64url_decode("Zg", out), 1);
    EXPECT_EQ(out[0], 'f');
    EXPECT_EQ(base64url_decode("Zm8", out), 2);
    EXPECT_EQ(base64url_decode("Zm9v", out), 3);
    EXPECT_EQ(base64url_decode("-_8", out), 2);
    EXPECT_EQ(out[0], 0xfb);
    EXPECT_EQ(out[1], 0xff);
    EXPECT_EQ(base64url_decode("Z", out), -1);     // 4n+1 characters
    EXPECT_EQ(base64url_decode("Zh", out), -1);    // leftover bits not zero
    EXPECT_EQ(base64url_decode("Zg==", out), -1);  // padding is not base64url of JWS
    EXPECT_EQ(base64url_decode("Zm+v", out), -1);  // '+' is standard base64, not base64url
    EXPECT_EQ(base64url_decode("Zm9vYmFyYmF6", std::span<uint8_t>(out, 8)), -1);  // 9 > 8
}

TEST(Jwt, TokenAtAGuardPage) {
    TokenVerifier v(kSecret);
    Claims c;
    std::string good = make_token(kHs256, R"({"sub":"guarded","exp":2000000000})", kSecret);
    for (size_t len = 0; len <= good.size(); ++len) {
        test::GuardedBuffer guarded(std::string_view(good).substr(0, len));
        JwtError e = v.verify(std::string_view(guarded.chars(), guarded.size()), kNow, c);
        if (len == good.size()) {
            EXPECT_EQ(e, JwtError::none);
            EXPECT_EQ(c.sub, "guarded");
        } else {
            EXPECT_NE(e, JwtError::none) << len;
        }
    }
}

TEST(Jwt, ErrorTextsAreDistinct) {
    EXPECT_EQ(jwt_error_text(JwtError::expired), "token expired");
    EXPECT_NE(jwt_error_text(JwtError::malformed), jwt_error_text(JwtError::bad_signature));
    EXPECT_NE(jwt_error_text(JwtError::unsupported_alg), jwt_error_text(JwtError::not_yet_valid));
}

}  // namespace
}  // namespace wsgate::proto::jwt
