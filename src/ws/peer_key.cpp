#include "ws/peer_key.hpp"

#include <netinet/in.h>
#include <sys/random.h>
#include <time.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>

namespace wsgate::ws {

namespace {
constexpr size_t kIpv6Bytes = 16;
constexpr uint8_t kFamilyV4 = 4;
constexpr uint8_t kFamilyV6 = 6;

uint64_t hash_with_family(uint8_t family, const void* bytes, size_t n, uint64_t seed) {
    // The family byte keeps an IPv4 address and an IPv6 prefix with the same
    // leading bytes apart.
    uint8_t buf[1 + kIpv6Bytes];
    buf[0] = family;
    std::memcpy(buf + 1, bytes, n);
    return XXH3_64bits_withSeed(buf, 1 + n, seed);
}
}  // namespace

bool peer_key(const sockaddr* addr, socklen_t len, uint64_t seed, uint64_t* key,
              uint32_t ipv6_prefix_bits) {
    if (addr == nullptr) return false;
    if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
        *key = hash_with_family(kFamilyV4, &in->sin_addr, sizeof(in->sin_addr), seed);
        return true;
    }
    if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            *key = hash_with_family(kFamilyV4, in6->sin6_addr.s6_addr + 12, 4, seed);
        } else {
            // The prefix's whole bytes, the last one masked to the prefix.
            uint32_t bits = std::clamp<uint32_t>(ipv6_prefix_bits, 1, 128);
            uint8_t prefix[kIpv6Bytes];
            size_t n = (bits + 7) / 8;
            std::memcpy(prefix, in6->sin6_addr.s6_addr, n);
            if (bits % 8 != 0) prefix[n - 1] &= static_cast<uint8_t>(0xFF00u >> (bits % 8));
            *key = hash_with_family(kFamilyV6, prefix, n, seed);
        }
        return true;
    }
    return false;
}

uint64_t random_peer_seed() {
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == sizeof(seed)) return seed;
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<uint64_t>(t.tv_nsec) * 0x9E3779B97F4A7C15ull ^
           static_cast<uint64_t>(t.tv_sec);
}

}  // namespace wsgate::ws
