// Verification of connection tokens: JSON Web Tokens (RFC 7519) in JWS
// compact serialization (RFC 7515 §7.1) signed with HMAC-SHA256 ("HS256",
// RFC 7518 §3.2), the tokens Centrifugo accepts with `token_hmac_secret_key`,
// or with a public key: RS256 and ES256 (RFC 7518 §3.3, §3.4; keys from a
// PEM file or a JWK Set, proto/jwt_keys.hpp), as Centrifugo's
// `token_rsa_public_key`, `token_ecdsa_public_key` and `token_jwks_public_endpoint`.
//
// What Centrifugo answers, and so what a hub answers for each result: an
// expired token gets the error reply 109 "token expired" (the SDK fetches a
// new token with getToken and reconnects); any other failure disconnects with
// 3500 "invalid token" (terminal: the SDK does not reconnect).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace wsgate::proto::jwt {

// Tokens longer than this are refused as malformed: a connection token
// carries a user id and a few claims.
inline constexpr size_t kMaxTokenBytes = 8192;

enum class JwtError : uint8_t {
    none,
    malformed,        // not three base64url parts of JSON objects, or a claim of the wrong type
    unsupported_alg,  // alg other than HS256/RS256/ES256 or without its key (none included),
                      // or a `crit` header
    bad_signature,    // the HMAC or signature does not match, or no key has the token's kid
    expired,          // now >= exp (RFC 7519 §4.1.4)
    not_yet_valid,    // now < nbf (RFC 7519 §4.1.5)
};

std::string_view jwt_error_text(JwtError error);

// True for the one failure answered with error 109 instead of disconnect 3500.
constexpr bool is_token_expired(JwtError error) {
    return error == JwtError::expired;
}

struct Claims {
    std::string_view sub;   // the user id; "" for an anonymous token
    int64_t exp = 0;        // seconds since the epoch; 0 = the token does not expire
    int64_t iat = 0;        // 0 = absent
    int64_t nbf = 0;        // 0 = absent
    std::string_view info;  // raw JSON of the `info` claim (connection info), "" if absent
};

// Decodes base64url without padding (RFC 4648 §5; JWS uses no '=', RFC 7515
// §2) into `out`. Returns the decoded length, or -1 for a character outside
// the alphabet, a length that no encoding has (4n+1), non-zero leftover
// bits (a non-canonical encoding), or an `out` too small.
long base64url_decode(std::string_view in, std::span<uint8_t> out);

class PublicKeySet;

// The public keys tokens are checked against now: replaced whole when the
// key files are read again (SIGHUP), each verify() reads the current set.
using KeyRing = std::atomic<std::shared_ptr<const PublicKeySet>>;

class TokenVerifier {
  public:
    // hmac_secret: HS256 tokens are accepted when it is not empty; keys:
    // RS256/ES256 tokens are checked against its current set (nullptr: not
    // accepted). The ring must outlive the verifier.
    explicit TokenVerifier(std::string_view hmac_secret, const KeyRing* keys = nullptr);
    ~TokenVerifier();
    TokenVerifier(const TokenVerifier&) = delete;
    TokenVerifier& operator=(const TokenVerifier&) = delete;

    // Verifies `token` at `now_seconds` (Unix time). The signature is checked
    // (in constant time, CRYPTO_memcmp) before the claims are parsed. On
    // success `out` holds the claims; its views stay valid until the next
    // verify().
    JwtError verify(std::string_view token, int64_t now_seconds, Claims& out);

  private:
    struct Json;  // the simdjson parser and decode buffers, kept out of this header
    std::string secret_;
    const KeyRing* keys_;
    std::string kid_;  // the token's kid (kept beyond its parse)
    uint8_t alg_ = 0;
    std::unique_ptr<Json> json_;
};

}  // namespace wsgate::proto::jwt
