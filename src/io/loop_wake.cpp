#include "io/loop_wake.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace wsgate::io {

LoopWake::~LoopWake() {
    if (event_fd_ >= 0) ::close(event_fd_);
}

int LoopWake::open() {
    event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return event_fd_ < 0 ? -errno : 0;
}

void LoopWake::signal_eventfd() {
    uint64_t one = 1;
    // EAGAIN only when the counter is near 2^64: the loop is woken anyway.
    if (::write(event_fd_, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        std::perror("wsgate: loop wake");
    }
    eventfd_wakes_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace wsgate::io
