#include "io/backend_kind.hpp"

#include <cstring>

#include "io/ring_setup.hpp"

namespace wsgate::io {

bool parse_backend_kind(std::string_view text, BackendKind* out) {
    if (text == "auto") {
        *out = BackendKind::auto_select;
    } else if (text == "io_uring") {
        *out = BackendKind::io_uring;
    } else if (text == "epoll") {
        *out = BackendKind::epoll;
    } else {
        return false;
    }
    return true;
}

std::string_view backend_name(BackendKind kind) {
    switch (kind) {
        case BackendKind::auto_select:
            return "auto";
        case BackendKind::io_uring:
            return "io_uring";
        case BackendKind::epoll:
            return "epoll";
    }
    return "?";
}

BackendKind choose_backend(BackendKind requested, std::string* message) {
    if (requested == BackendKind::epoll) return requested;
    int err = 0;
    if (probe_io_uring(&err)) return BackendKind::io_uring;
    std::string why = std::strerror(-err);
    if (requested == BackendKind::io_uring) {
        *message = "io_uring unavailable: " + why;
        return requested;
    }
    *message = "io_uring unavailable (" + why + "), using epoll";
    return BackendKind::epoll;
}

}  // namespace wsgate::io
