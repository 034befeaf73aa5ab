// Verification of connection tokens: JSON Web Tokens (RFC 7519) in JWS
// compact serialization (RFC 7515 §7.1) signed with HMAC-SHA256 ("HS256",
// RFC 7518 §3.2), the tokens Centrifugo accepts with `token_hmac_secret_key`.
//
// What Centrifugo answers, and so what a hub answers for each result: an
// expired token gets the error reply 109 "token expired" (the SDK fetches a
// new token with getToken and reconnects); any other failure disconnects with
// 3500 "invalid token" (terminal: the SDK does not reconnect).
#pragma once

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
    unsupported_alg,  // alg other than HS256 (none included), or a `crit` header
    bad_signature,    // the HMAC does not match
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

class Hs256Verifier {
  public:
    explicit Hs256Verifier(std::string_view secret);
    ~Hs256Verifier();
    Hs256Verifier(const Hs256Verifier&) = delete;
    Hs256Verifier& operator=(const Hs256Verifier&) = delete;

    // Verifies `token` at `now_seconds` (Unix time). The signature is checked
    // (in constant time, CRYPTO_memcmp) before the claims are parsed. On
    // success `out` holds the claims; its views stay valid until the next
    // verify().
    JwtError verify(std::string_view token, int64_t now_seconds, Claims& out);

  private:
    struct Json;  // the simdjson parser and decode buffers, kept out of this header
    std::string secret_;
    std::unique_ptr<Json> json_;
};

}  // namespace wsgate::proto::jwt
