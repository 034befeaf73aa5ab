// Outbound TCP connections, the part both backends share: a non-blocking
// socket and connect(2) started here; the backend only waits for the socket
// to become writable (epoll: EPOLLOUT; io_uring: IORING_OP_POLL_ADD), after
// which connect_result() says how the connect ended (connect(2): "select(2)
// for writing ... then getsockopt SO_ERROR").
#pragma once

#include <sys/socket.h>

namespace wsgate::io {

// Opens a non-blocking TCP socket (TCP_NODELAY, close-on-exec) and starts
// connecting it to addr. Returns the descriptor (the connect is in progress
// or done: wait for writability either way) or -errno when it failed at once.
int start_connect(const sockaddr* addr, socklen_t len);

// Once the socket is writable (or reports an error): 0 when connected,
// else -errno (-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, ...).
int connect_result(int fd);

}  // namespace wsgate::io
