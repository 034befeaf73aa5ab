#include "proto/jwt_keys.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <simdjson.h>

#include <array>
#include <cstring>

#include "proto/jwt_hs256.hpp"

namespace wsgate::proto::jwt {

namespace {

namespace od = simdjson::ondemand;

// RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used".
constexpr int kMinRsaBits = 2048;
constexpr size_t kP256CoordinateBytes = 32;
constexpr size_t kMaxKeyFieldBytes = 1024;  // a 8192-bit modulus

struct BnFree {
    void operator()(BIGNUM* b) const { BN_free(b); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;

bool is_p256(EVP_PKEY* key) {
    char group[64] = {};
    size_t len = 0;
    return EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                          &len) == 1 &&
           std::string_view(group, len) == SN_X9_62_prime256v1;
}

// A base64url field of a JWK, decoded (RFC 7518 §6: unsigned big-endian).
bool jwk_bytes(std::string_view b64, std::vector<uint8_t>* out) {
    out->resize(kMaxKeyFieldBytes);
    long n = base64url_decode(b64, *out);
    if (n <= 0) return false;
    out->resize(static_cast<size_t>(n));
    return true;
}

EVP_PKEY* key_from_params(const char* name, OSSL_PARAM_BLD* bld) {
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, name, nullptr);
    EVP_PKEY* key = nullptr;
    if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        key = nullptr;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return key;
}

EVP_PKEY* rsa_key(const std::vector<uint8_t>& n, const std::vector<uint8_t>& e) {
    Bn bn_n(BN_bin2bn(n.data(), static_cast<int>(n.size()), nullptr));
    Bn bn_e(BN_bin2bn(e.data(), static_cast<int>(e.size()), nullptr));
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    EVP_PKEY* key = nullptr;
    if (bn_n && bn_e && bld != nullptr &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n.get()) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e.get()) == 1) {
        key = key_from_params("RSA", bld);
    }
    OSSL_PARAM_BLD_free(bld);
    return key;
}

EVP_PKEY* p256_key(const std::vector<uint8_t>& x, const std::vector<uint8_t>& y) {
    if (x.size() != kP256CoordinateBytes || y.size() != kP256CoordinateBytes) return nullptr;
    // SEC 1 §2.3.3: an uncompressed point is 0x04 || X || Y.
    std::array<uint8_t, 1 + 2 * kP256CoordinateBytes> point;
    point[0] = 0x04;
    std::memcpy(point.data() + 1, x.data(), kP256CoordinateBytes);
    std::memcpy(point.data() + 1 + kP256CoordinateBytes, y.data(), kP256CoordinateBytes);
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    EVP_PKEY* key = nullptr;
    if (bld != nullptr &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1, 0) ==
            1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                         point.size()) == 1) {
        key = key_from_params("EC", bld);
    }
    OSSL_PARAM_BLD_free(bld);
    return key;
}

// One JWK: its fields as strings (every member this reader uses is one).
struct Jwk {
    std::string_view kty, kid, use, crv, n, e, x, y;
};

}  // namespace

void PublicKeySet::Free::operator()(EVP_PKEY* key) const {
    EVP_PKEY_free(key);
}

std::string PublicKeySet::add(EVP_PKEY* key, KeyType type, std::string kid) {
    if (key == nullptr) return "not a valid public key";
    std::shared_ptr<EVP_PKEY> owned(key, Free{});
    if (type == KeyType::rsa) {
        if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) return "not an RSA public key";
        if (EVP_PKEY_get_bits(key) < kMinRsaBits) return "RSA key shorter than 2048 bits";
    } else if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC || !is_p256(key)) {
        return "not an ECDSA P-256 public key";
    }
    keys_.push_back({std::move(kid), type, std::move(owned)});
    return {};
}

std::string PublicKeySet::add_pem(std::string_view pem, KeyType type) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (bio == nullptr) return "out of memory";
    EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (key == nullptr) return "no PEM public key (-----BEGIN PUBLIC KEY-----)";
    return add(key, type, {});
}

std::string PublicKeySet::add_jwks(std::string_view json) {
    simdjson::padded_string text(json);
    od::parser parser;
    od::document doc;
    od::array keys;
    if (parser.iterate(text).get(doc) != simdjson::SUCCESS ||
        doc["keys"].get_array().get(keys) != simdjson::SUCCESS) {
        return "not a JWK Set (a JSON object with a \"keys\" array)";
    }
    size_t added = 0;
    for (auto item : keys) {
        od::object object;
        if (item.get_object().get(object) != simdjson::SUCCESS) return "a key is not an object";
        Jwk jwk;
        for (auto field_result : object) {
            od::field field;
            std::string_view name;
            if (std::move(field_result).get(field) != simdjson::SUCCESS ||
                field.unescaped_key().get(name) != simdjson::SUCCESS) {
                return "malformed JWK";
            }
            std::string_view* slot = name == "kty"   ? &jwk.kty
                                     : name == "kid" ? &jwk.kid
                                     : name == "use" ? &jwk.use
                                     : name == "crv" ? &jwk.crv
                                     : name == "n"   ? &jwk.n
                                     : name == "e"   ? &jwk.e
                                     : name == "x"   ? &jwk.x
                                     : name == "y"   ? &jwk.y
                                                     : nullptr;
            if (slot == nullptr) continue;
            // Views into the parser's string buffer: valid for this document.
            if (field.value().get_string().get(*slot) != simdjson::SUCCESS) {
                return "JWK member " + std::string(name) + " is not a string";
            }
        }
        if (!jwk.use.empty() && jwk.use != "sig") continue;
        std::vector<uint8_t> a, b;
        std::string kid(jwk.kid);
        if (jwk.kty == "RSA") {
            if (!jwk_bytes(jwk.n, &a) || !jwk_bytes(jwk.e, &b))
                return "RSA JWK " + kid + ": bad n or e";
            if (std::string e = add(rsa_key(a, b), KeyType::rsa, kid); !e.empty()) {
                return "RSA JWK " + kid + ": " + e;
            }
            ++added;
        } else if (jwk.kty == "EC" && jwk.crv == "P-256") {
            if (!jwk_bytes(jwk.x, &a) || !jwk_bytes(jwk.y, &b))
                return "EC JWK " + kid + ": bad x or y";
            if (std::string e = add(p256_key(a, b), KeyType::ec_p256, kid); !e.empty()) {
                return "EC JWK " + kid + ": " + e;
            }
            ++added;
        }
    }
    if (added == 0) return "no RSA or EC P-256 signing key in the set";
    return {};
}

EVP_PKEY* PublicKeySet::find(std::string_view kid, KeyType type) const {
    for (const Entry& e : keys_) {
        if (e.type == type && (kid.empty() || e.kid == kid)) return e.key.get();
    }
    return nullptr;
}

bool verify_signature(EVP_PKEY* key, KeyType type, std::string_view signed_part,
                      std::span<const uint8_t> signature) {
    // ECDSA-Sig-Value (RFC 3279 §2.2.3) of at most two 33-byte INTEGERs.
    unsigned char der[80];
    const unsigned char* sig = signature.data();
    size_t sig_len = signature.size();
    if (type == KeyType::ec_p256) {
        if (signature.size() != 2 * kP256CoordinateBytes) return false;
        ECDSA_SIG* es = ECDSA_SIG_new();
        BIGNUM* r = BN_bin2bn(signature.data(), kP256CoordinateBytes, nullptr);
        BIGNUM* s =
            BN_bin2bn(signature.data() + kP256CoordinateBytes, kP256CoordinateBytes, nullptr);
        if (es == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(es, r, s) != 1) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(es);
            return false;
        }
        unsigned char* p = der;
        int n = i2d_ECDSA_SIG(es, nullptr) <= static_cast<int>(sizeof(der)) ? i2d_ECDSA_SIG(es, &p)
                                                                            : -1;
        ECDSA_SIG_free(es);
        if (n <= 0) return false;
        sig = der;
        sig_len = static_cast<size_t>(n);
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = ctx != nullptr &&
              EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
              EVP_DigestVerify(ctx, sig, sig_len,
                               reinterpret_cast<const unsigned char*>(signed_part.data()),
                               signed_part.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

}  // namespace wsgate::proto::jwt
