#include "io/outbound_connect.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>

namespace wsgate::io {

int start_connect(const sockaddr* addr, socklen_t len) {
    int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    // Relayed frames are small and latency-bound, as on accepted sockets.
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (::connect(fd, addr, len) == 0 || errno == EINPROGRESS) return fd;
    int err = errno;
    ::close(fd);
    return -err;
}

int connect_result(int fd) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -errno;
    return -err;
}

}  // namespace wsgate::io
