// Public keys for connection tokens signed with RS256 (RSASSA-PKCS1-v1_5
// with SHA-256, RFC 7518 §3.3) and ES256 (ECDSA on P-256 with SHA-256,
// RFC 7518 §3.4): from a PEM public key (SubjectPublicKeyInfo, what
// `openssl pkey -pubout` writes) or a JWK Set (RFC 7517 §5, keys by `kid`).
// A set is built once and then only read, from any thread (OpenSSL 3 keys
// may verify concurrently).
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wsgate::proto::jwt {

enum class KeyType : uint8_t { rsa, ec_p256 };

class PublicKeySet {
  public:
    // A PEM public key of the given type, with no kid (it signs tokens
    // without one, or with any). "" or what is wrong.
    std::string add_pem(std::string_view pem, KeyType type);
    // Every RSA and P-256 signing key of a JWK Set. Keys of other types or
    // curves, or with "use" other than "sig", are skipped (RFC 7517 §5: a
    // set may hold keys the reader does not understand); a set with no
    // usable key is an error. "" or what is wrong.
    std::string add_jwks(std::string_view json);

    // The key for a token's header: with a kid, the key of that kid and
    // type; without, the first key of the type. nullptr when there is none.
    EVP_PKEY* find(std::string_view kid, KeyType type) const;

    size_t size() const { return keys_.size(); }
    bool empty() const { return keys_.empty(); }

  private:
    struct Free {
        void operator()(EVP_PKEY* key) const;
    };
    struct Entry {
        std::string kid;
        KeyType type;
        std::shared_ptr<EVP_PKEY> key;
    };
    std::string add(EVP_PKEY* key, KeyType type, std::string kid);
    std::vector<Entry> keys_;
};

// Verifies `signature` (as decoded from the JWS, RFC 7515 §5.2) over
// `signed_part` with `key`: RS256 takes the PKCS#1 v1.5 signature as is;
// ES256's is R || S, 32 bytes each (RFC 7518 §3.4), turned into the DER
// form OpenSSL verifies.
bool verify_signature(EVP_PKEY* key, KeyType type, std::string_view signed_part,
                      std::span<const uint8_t> signature);

}  // namespace wsgate::proto::jwt
