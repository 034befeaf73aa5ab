// The public keys connection tokens are checked against (--token-rsa-public-key,
// --token-ecdsa-public-key, --token-jwks-file), read from their files at
// start-up and again on SIGHUP. A reload builds a whole new key set and
// swaps it in; a file that cannot be read or parsed changes nothing.
#pragma once

#include <string>

#include "proto/jwt_hs256.hpp"

namespace wsgate::pubsub {

struct TokenKeyFiles {
    std::string rsa_pem;    // a PEM RSA public key (RS256)
    std::string ecdsa_pem;  // a PEM P-256 public key (ES256)
    std::string jwks;       // a JWK Set (RFC 7517 §5), keys by kid
    bool any() const { return !rsa_pem.empty() || !ecdsa_pem.empty() || !jwks.empty(); }
};

class TokenKeyStore {
  public:
    explicit TokenKeyStore(TokenKeyFiles files) : files_(std::move(files)) {}

    // Reads every file into a new set and makes it current. "" (and the
    // number of keys in *keys), or an error naming the file; then the
    // current set stays as it was.
    std::string reload(size_t* keys);

    const proto::jwt::KeyRing& ring() const { return ring_; }

  private:
    TokenKeyFiles files_;
    proto::jwt::KeyRing ring_;
};

}  // namespace wsgate::pubsub
