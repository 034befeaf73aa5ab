#pragma once
// A client TCP socket as every wsload connection opens it, ready for its
// connect: no Nagle, bound to one of the loopback source addresses.

#include <netinet/in.h>

#include <cstdint>

#include "options.hpp"

namespace wsgate::bench {

inline constexpr std::uint32_t kLoopbackBase = 0x7F000001;  // 127.0.0.1

// A socket bound to 127.0.0.1 + source_offset (port chosen at connect);
// -1 when it could not be made or bound.
int open_client_socket(std::uint32_t source_offset);

// The server every connection goes to (--url).
sockaddr_in target_address(const Options& options);

// Closes `fd` at once (both directions shut first, which also ends a receive
// still armed on it) and marks it closed (-1); nothing when it is already -1.
void abort_socket(int& fd);

}  // namespace wsgate::bench
