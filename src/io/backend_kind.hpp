// The event backends and the run-time choice between them (Seastar-style:
// probe what works on this host, take the first unless overridden).
#pragma once

#include <string>
#include <string_view>

#include "io/uring_features.hpp"

namespace wsgate::io {

enum class BackendKind { auto_select, io_uring, epoll };

// "auto" | "io_uring" | "epoll"; false on anything else.
bool parse_backend_kind(std::string_view text, BackendKind* out);
std::string_view backend_name(BackendKind kind);

// Resolves auto_select from the probed io_uring `features`: io_uring when
// every feature the backend needs is there (with `direct`, direct descriptors
// too), else epoll with *message the one log line to print, naming what is
// missing. A forced io_uring that cannot work is reported in *message and
// returned unchanged (the caller fails).
BackendKind choose_backend(BackendKind requested, const UringFeatures& features, bool direct,
                           std::string* message);

}  // namespace wsgate::io
