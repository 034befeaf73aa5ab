// The io-level state a connection record embeds: its descriptor and what the
// backend has in flight for it. The backends own every field; the connection
// layer only reads `fd` (for logging) and never touches the rest.
#pragma once

#include <cstdint>

namespace wsgate::io {

struct SendContext;  // io_uring: msghdr + iovecs of the send in flight

struct SocketState {
    int fd = -1;
    uint8_t inflight = 0;       // io_uring requests whose completion is still due
    bool recv_armed = false;    // io_uring: multishot receive active; epoll: registered
    bool want_read = true;      // the owner wants bytes (false: paused for backpressure)
    bool rearm_listed = false;  // io_uring: waiting for buffers to re-arm the receive
    bool send_busy = false;     // io_uring: a sendmsg is in flight
    bool dirty_listed = false;  // in the loop's list of sockets with output to flush
    bool readable = false;      // epoll: an edge was seen and not read to EAGAIN yet
    bool ready_listed = false;  // epoll: in the loop's list of sockets to read
    bool writable = true;       // epoll: last write did not hit EAGAIN
    bool closing = false;       // close requested; no more callbacks for this socket
    bool shut_write = false;    // FIN sent
    bool plain_fd = false;      // io_uring direct mode: fd is a process descriptor (connecting)
    SendContext* send = nullptr;
};
static_assert(sizeof(SocketState) <= 24);

}  // namespace wsgate::io
