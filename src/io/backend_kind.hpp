// The event backends and the run-time choice between them (Seastar-style:
// probe what works on this host, take the first unless overridden).
#pragma once

#include <string>
#include <string_view>

namespace wsgate::io {

enum class BackendKind { auto_select, io_uring, epoll };

// "auto" | "io_uring" | "epoll"; false on anything else.
bool parse_backend_kind(std::string_view text, BackendKind* out);
std::string_view backend_name(BackendKind kind);

// Resolves auto_select by probing io_uring; a forced io_uring that cannot
// work is reported in *message and returned unchanged (the caller fails).
// For auto with io_uring unavailable, *message is the one log line to print.
BackendKind choose_backend(BackendKind requested, std::string* message);

}  // namespace wsgate::io
