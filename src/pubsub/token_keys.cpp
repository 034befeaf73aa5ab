#include "pubsub/token_keys.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "proto/jwt_keys.hpp"

namespace wsgate::pubsub {

namespace {

namespace jwt = proto::jwt;

// Key files are small; a larger one is not a key file.
constexpr std::streamoff kMaxKeyFileBytes = 1 << 20;

bool read_file(const std::string& path, std::string* out, std::string* error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        *error = path + ": " + std::strerror(errno);
        return false;
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (text.tellp() > kMaxKeyFileBytes) {
        *error = path + ": larger than 1 MiB";
        return false;
    }
    *out = std::move(text).str();
    return true;
}

}  // namespace

std::string TokenKeyStore::reload(size_t* keys) {
    auto set = std::make_shared<jwt::PublicKeySet>();
    std::string text, error;
    auto pem = [&](const std::string& path, jwt::KeyType type) {
        if (path.empty()) return true;
        if (!read_file(path, &text, &error)) return false;
        if (std::string e = set->add_pem(text, type); !e.empty()) {
            error = path + ": " + e;
            return false;
        }
        return true;
    };
    if (!pem(files_.rsa_pem, jwt::KeyType::rsa) || !pem(files_.ecdsa_pem, jwt::KeyType::ec_p256)) {
        return error;
    }
    if (!files_.jwks.empty()) {
        if (!read_file(files_.jwks, &text, &error)) return error;
        if (std::string e = set->add_jwks(text); !e.empty()) return files_.jwks + ": " + e;
    }
    *keys = set->size();
    ring_.store(std::move(set), std::memory_order_release);
    return {};
}

}  // namespace wsgate::pubsub
