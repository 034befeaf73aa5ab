#include "io/listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace wsgate::io {

std::optional<Endpoint> parse_endpoint(std::string_view text) {
    std::string host;
    std::string_view port_text;
    bool v6 = false;
    if (!text.empty() && text.front() == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::nullopt;
        }
        host = std::string(text.substr(1, close - 1));
        port_text = text.substr(close + 2);
        v6 = true;
    } else {
        size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
    }
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535 ||
        port_text.empty()) {
        return std::nullopt;
    }
    Endpoint ep;
    if (v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ep.addr);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(static_cast<uint16_t>(port));
        if (inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) != 1) return std::nullopt;
        ep.len = sizeof(sockaddr_in6);
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ep.addr);
        a->sin_family = AF_INET;
        a->sin_port = htons(static_cast<uint16_t>(port));
        if (inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) return std::nullopt;
        ep.len = sizeof(sockaddr_in);
    }
    return ep;
}

std::string format_endpoint(const Endpoint& ep) {
    char host[INET6_ADDRSTRLEN] = {};
    char out[INET6_ADDRSTRLEN + 16];
    if (ep.addr.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&ep.addr);
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        std::snprintf(out, sizeof(out), "[%s]:%u", host, unsigned{ntohs(a->sin6_port)});
    } else {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&ep.addr);
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        std::snprintf(out, sizeof(out), "%s:%u", host, unsigned{ntohs(a->sin_port)});
    }
    return out;
}

int open_listener(const Endpoint& ep, int backlog, bool reuse_port) {
    int fd = socket(ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    // Accepted sockets inherit TCP_NODELAY from the listener (Linux), so small
    // frames are not held back by Nagle with no per-connection syscall (and
    // direct descriptors have no fd to call setsockopt on).
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if ((reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
        (ep.addr.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
        bind(fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) != 0 ||
        listen(fd, backlog) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

Endpoint local_endpoint(int fd) {
    Endpoint ep;
    ep.len = sizeof(ep.addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&ep.addr), &ep.len);
    return ep;
}

}  // namespace wsgate::io
