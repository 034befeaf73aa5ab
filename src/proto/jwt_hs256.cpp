#include "proto/jwt_hs256.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cmath>
#include <cstring>
#include <utility>

#include "proto/json_walk.hpp"
#include "proto/jwt_keys.hpp"

namespace wsgate::proto::jwt {

namespace {

namespace od = simdjson::ondemand;

constexpr size_t kSha256Bytes = 32;
// The longest signature read: RS256 with an 8192-bit key.
constexpr size_t kMaxSignatureBytes = 1024;
constexpr size_t kMaxKidBytes = 256;

enum class Alg : uint8_t { other, hs256, rs256, es256 };

Alg alg_of(std::string_view name) {
    if (name == "HS256") return Alg::hs256;
    if (name == "RS256") return Alg::rs256;
    if (name == "ES256") return Alg::es256;
    return Alg::other;
}
// Header and claims are small objects; this bounds the recursion of the walk.
constexpr int kMaxClaimsDepth = 16;

constexpr std::array<int8_t, 256> make_base64url_table() {
    std::array<int8_t, 256> t{};
    for (auto& v : t)
        v = -1;
    const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int i = 0; i < 64; ++i)
        t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    return t;
}
constexpr std::array<int8_t, 256> kBase64url = make_base64url_table();

// A NumericDate (RFC 7519 §2): seconds, possibly with a fraction (dropped).
bool read_numeric_date(od::value value, int64_t& out) {
    od::json_type type;
    if (value.type().get(type) != simdjson::SUCCESS || type != od::json_type::number) return false;
    if (!json::is_json_number(json::trim_right(value.raw_json_token()))) return false;
    int64_t i;
    if (value.get_int64().get(i) == simdjson::SUCCESS) {
        out = i;
        return true;
    }
    double d;
    if (value.get_double().get(d) != simdjson::SUCCESS || !std::isfinite(d)) return false;
    // Beyond ±2^62 a date is absurd; clamp instead of overflowing.
    constexpr double kLimit = 4.6e18;
    out = d > kLimit    ? int64_t{4600000000000000000}
          : d < -kLimit ? -4600000000000000000
                        : static_cast<int64_t>(d);
    return true;
}

}  // namespace

std::string_view jwt_error_text(JwtError error) {
    switch (error) {
        case JwtError::none:
            return "valid";
        case JwtError::malformed:
            return "malformed token";
        case JwtError::unsupported_alg:
            return "unsupported token algorithm";
        case JwtError::bad_signature:
            return "bad token signature";
        case JwtError::expired:
            return "token expired";
        case JwtError::not_yet_valid:
            return "token not yet valid";
    }
    return "invalid token";
}

long base64url_decode(std::string_view in, std::span<uint8_t> out) {
    if (in.size() % 4 == 1) return -1;
    size_t need = in.size() / 4 * 3 + (in.size() % 4 == 0 ? 0 : in.size() % 4 - 1);
    if (need > out.size()) return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        int8_t v = kBase64url[static_cast<unsigned char>(c)];
        if (v < 0) return -1;
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = static_cast<uint8_t>(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    // The bits left over must be zero in a canonical encoding (RFC 4648 §3.5).
    if (acc != 0) return -1;
    return static_cast<long>(o);
}

struct TokenVerifier::Json {
    od::parser parser{kMaxTokenBytes};
    // Decoded header or claims, followed by simdjson's padding.
    std::array<uint8_t, kMaxTokenBytes + simdjson::SIMDJSON_PADDING> decoded{};
    od::document doc;
};

TokenVerifier::TokenVerifier(std::string_view hmac_secret, const KeyRing* keys)
    : secret_(hmac_secret), keys_(keys), json_(std::make_unique<Json>()) {}

TokenVerifier::~TokenVerifier() = default;

JwtError TokenVerifier::verify(std::string_view token, int64_t now_seconds, Claims& out) {
    out = Claims{};
    kid_.clear();
    if (token.size() > kMaxTokenBytes) return JwtError::malformed;
    size_t dot1 = token.find('.');
    if (dot1 == std::string_view::npos) return JwtError::malformed;
    size_t dot2 = token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
        return JwtError::malformed;
    }
    std::string_view header_b64 = token.substr(0, dot1);
    std::string_view claims_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    std::string_view signature_b64 = token.substr(dot2 + 1);
    std::span<uint8_t> buffer(json_->decoded.data(), kMaxTokenBytes);
    od::parser& parser = json_->parser;
    // Spaces after the decoded JSON, not what an earlier token left there.
    auto pad = [&](size_t json_len) {
        std::memset(json_->decoded.data() + json_len, ' ', simdjson::SIMDJSON_PADDING);
    };

    // Header (RFC 7515 §4.1): alg must be one this verifier has a key for
    // (never "none"); a `crit` header names extensions this verifier does
    // not implement, so it must refuse (§4.1.11). `kid` picks the key of a
    // JWK Set (§4.1.4).
    long len = base64url_decode(header_b64, buffer);
    if (len <= 0) return JwtError::malformed;
    pad(static_cast<size_t>(len));
    {
        od::document doc;
        od::object header;
        if (parser.iterate(buffer.data(), static_cast<size_t>(len), json_->decoded.size())
                    .get(doc) != simdjson::SUCCESS ||
            doc.get_object().get(header) != simdjson::SUCCESS) {
            return JwtError::malformed;
        }
        Alg alg = Alg::other;
        bool crit = false;
        for (auto field_result : header) {
            od::field field;
            std::string_view key;
            if (std::move(field_result).get(field) != simdjson::SUCCESS ||
                field.unescaped_key().get(key) != simdjson::SUCCESS) {
                return JwtError::malformed;
            }
            od::value value = field.value();
            if (key == "alg") {
                std::string_view name;
                if (value.get_string().get(name) != simdjson::SUCCESS) return JwtError::malformed;
                alg = alg_of(name);
            } else if (key == "kid") {
                // Copied: the next iterate() reuses the parser's string buffer.
                std::string_view kid;
                if (value.get_string().get(kid) != simdjson::SUCCESS || kid.size() > kMaxKidBytes) {
                    return JwtError::malformed;
                }
                kid_.assign(kid);
            } else {
                crit = crit || key == "crit";
                json::WalkState walk{kMaxClaimsDepth};
                if (!json::walk_value(value, 2, walk) || walk.too_deep) return JwtError::malformed;
            }
        }
        if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return JwtError::malformed;
        if (crit) return JwtError::unsupported_alg;
        if (alg == Alg::hs256 && secret_.empty()) return JwtError::unsupported_alg;
        if ((alg == Alg::rs256 || alg == Alg::es256) && keys_ == nullptr) {
            return JwtError::unsupported_alg;
        }
        if (alg == Alg::other) return JwtError::unsupported_alg;
        alg_ = static_cast<uint8_t>(alg);
    }

    // Signature (RFC 7515 §5.2 step 8) over the ASCII of "header.claims"
    // as sent: HMAC-SHA256 (RFC 7518 §3.2, compared in constant time), or
    // the public key's (§3.3, §3.4).
    uint8_t signature[kMaxSignatureBytes + 1];
    long signature_len =
        base64url_decode(signature_b64, std::span<uint8_t>(signature, sizeof signature));
    if (signature_len <= 0) return JwtError::bad_signature;
    std::string_view signed_part = token.substr(0, dot2);
    const auto alg = static_cast<Alg>(alg_);
    if (alg == Alg::hs256) {
        uint8_t expected[EVP_MAX_MD_SIZE];
        unsigned int expected_len = 0;
        if (signature_len != static_cast<long>(kSha256Bytes) ||
            HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
                 reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(),
                 expected, &expected_len) == nullptr ||
            expected_len != kSha256Bytes || CRYPTO_memcmp(expected, signature, kSha256Bytes) != 0) {
            return JwtError::bad_signature;
        }
    } else {
        const KeyType type = alg == Alg::rs256 ? KeyType::rsa : KeyType::ec_p256;
        std::shared_ptr<const PublicKeySet> keys = keys_->load(std::memory_order_acquire);
        EVP_PKEY* key = keys ? keys->find(kid_, type) : nullptr;
        if (key == nullptr ||
            !verify_signature(
                key, type, signed_part,
                std::span<const uint8_t>(signature, static_cast<size_t>(signature_len)))) {
            return JwtError::bad_signature;
        }
    }

    // Claims (RFC 7519 §4.1), parsed only once the signature holds. Their
    // views point into json_->decoded and the parser: valid until the next
    // verify(), as the header says.
    len = base64url_decode(claims_b64, buffer);
    if (len <= 0) return JwtError::malformed;
    pad(static_cast<size_t>(len));
    od::document& doc = json_->doc;
    od::object claims;
    if (parser.iterate(buffer.data(), static_cast<size_t>(len), json_->decoded.size()).get(doc) !=
            simdjson::SUCCESS ||
        doc.get_object().get(claims) != simdjson::SUCCESS) {
        return JwtError::malformed;
    }
    for (auto field_result : claims) {
        od::field field;
        std::string_view key;
        if (std::move(field_result).get(field) != simdjson::SUCCESS ||
            field.unescaped_key().get(key) != simdjson::SUCCESS) {
            return JwtError::malformed;
        }
        od::value value = field.value();
        bool ok = true;
        json::WalkState walk{kMaxClaimsDepth};
        if (key == "sub") {
            ok = value.get_string().get(out.sub) == simdjson::SUCCESS;
        } else if (key == "exp") {
            ok = read_numeric_date(value, out.exp);
        } else if (key == "iat") {
            ok = read_numeric_date(value, out.iat);
        } else if (key == "nbf") {
            ok = read_numeric_date(value, out.nbf);
        } else if (key == "info") {
            ok = json::walk_raw(doc, value, 2, walk, out.info) && !walk.too_deep;
        } else {
            ok = json::walk_value(value, 2, walk) && !walk.too_deep;
        }
        if (!ok) return JwtError::malformed;
    }
    if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return JwtError::malformed;

    if (out.exp != 0 && now_seconds >= out.exp) return JwtError::expired;
    if (out.nbf != 0 && now_seconds < out.nbf) return JwtError::not_yet_valid;
    return JwtError::none;
}

}  // namespace wsgate::proto::jwt
