#include "gateway/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace wsgate::gateway {

bool sd_notify_state(std::string_view state) {
    const char* name = std::getenv("NOTIFY_SOCKET");
    if (name == nullptr || name[0] == '\0') return false;
    size_t len = std::strlen(name);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    // "@" names an abstract socket: its address starts with a NUL byte.
    if ((name[0] != '/' && name[0] != '@') || len >= sizeof(addr.sun_path)) return false;
    std::memcpy(addr.sun_path, name, len);
    if (name[0] == '@') addr.sun_path[0] = '\0';
    socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    ssize_t n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                       reinterpret_cast<const sockaddr*>(&addr), addr_len);
    close(fd);
    return n == static_cast<ssize_t>(state.size());
}

bool notify_ready() {
    return sd_notify_state("READY=1\nSTATUS=serving");
}

bool notify_reloading() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    unsigned long long usec =
        static_cast<unsigned long long>(now.tv_sec) * 1000000ULL + now.tv_nsec / 1000;
    char text[64];
    int n = std::snprintf(text, sizeof(text), "RELOADING=1\nMONOTONIC_USEC=%llu", usec);
    return sd_notify_state(std::string_view(text, static_cast<size_t>(n)));
}

bool notify_stopping() {
    return sd_notify_state("STOPPING=1");
}

}  // namespace wsgate::gateway
