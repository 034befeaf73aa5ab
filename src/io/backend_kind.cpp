#include "io/backend_kind.hpp"

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

BackendKind choose_backend(BackendKind requested, const UringFeatures& features, bool direct,
                           std::string* message) {
    if (requested == BackendKind::epoll) return requested;
    std::string missing = missing_uring_requirement(features, direct);
    if (missing.empty()) return BackendKind::io_uring;
    if (requested == BackendKind::io_uring) {
        *message = "io_uring unavailable: " + missing;
        return requested;
    }
    *message = "io_uring unavailable (" + missing + "), using epoll";
    return BackendKind::epoll;
}

}  // namespace wsgate::io
