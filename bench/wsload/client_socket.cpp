#include "client_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24  // linux/in.h; glibc 2.36 does not export it
#endif

namespace wsgate::bench {

int open_client_socket(std::uint32_t source_offset) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    const int one = 1;
    // Small messages must not wait for Nagle's delayed-ACK interplay.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Defer the port choice to connect(), so each source address offers its whole
    // ephemeral range per destination instead of one global range.
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(kLoopbackBase + source_offset);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

sockaddr_in target_address(const Options& options) {
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(options.target_port);
    dst.sin_addr.s_addr = htonl(options.target_ip);
    return dst;
}

void abort_socket(int& fd) {
    if (fd < 0) return;
    shutdown(fd, SHUT_RDWR);
    close(fd);
    fd = -1;
}

}  // namespace wsgate::bench
