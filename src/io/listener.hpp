// Listening sockets: address parsing and SO_REUSEPORT sockets, one per loop
// per address, so the kernel spreads new connections over the loops.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>

namespace wsgate::io {

struct Endpoint {
    sockaddr_storage addr{};
    socklen_t len = 0;
};

// Parses "1.2.3.4:PORT" or "[v6addr]:PORT" (numeric only). nullopt on error.
std::optional<Endpoint> parse_endpoint(std::string_view text);

// "1.2.3.4:PORT" / "[::1]:PORT".
std::string format_endpoint(const Endpoint& ep);

// Opens a non-blocking listening socket with SO_REUSEADDR, SO_REUSEPORT and
// TCP_NODELAY (IPV6_V6ONLY for IPv6) bound to ep. Returns the fd or -errno.
// reuse_port false: no SO_REUSEPORT, so a second process cannot bind the
// same address (a port that must belong to one process, as the admin one).
int open_listener(const Endpoint& ep, int backlog, bool reuse_port = true);

// The address a socket is bound to (resolves port 0).
Endpoint local_endpoint(int fd);

}  // namespace wsgate::io
