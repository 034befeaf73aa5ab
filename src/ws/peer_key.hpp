// The key under which per-address limits count a client: a seeded XXH3 hash
// of the part of its address that one client controls.
#pragma once

#include <sys/socket.h>

#include <cstdint>

namespace wsgate::ws {

// IPv4: the whole address. IPv6: its /64 prefix, because a single host is
// routinely given a whole /64 (RFC 6177) and can pick any address in it.
// An IPv4-mapped IPv6 address (::ffff:a.b.c.d, RFC 4291 §2.5.5.2, from a
// dual-stack listener) keys as the IPv4 address it carries. The port never
// counts. Returns false (key untouched) for other families or a short length.
// The seed is per process and random, so a client cannot choose addresses
// whose keys collide in a loop's PeerTable.
// ipv6_prefix_bits (1..128) replaces the /64 where a network hands out
// larger or smaller prefixes.
bool peer_key(const sockaddr* addr, socklen_t len, uint64_t seed, uint64_t* key,
              uint32_t ipv6_prefix_bits = 64);

// A random seed for peer_key (getrandom; a clock-based value if that fails).
uint64_t random_peer_seed();

}  // namespace wsgate::ws
