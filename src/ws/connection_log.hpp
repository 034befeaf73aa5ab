// Log lines about one connection (io/log.hpp): each carries the
// connection's request id, and each kind is rate-limited per loop, since a
// peer can cause any of them at will.
#pragma once

#include <cstdint>
#include <string_view>

#include "io/log.hpp"
#include "ws/connection_handle.hpp"

namespace wsgate::ws {

// The request id of a connection: its handle (loop, slot, generation).
constexpr io::RequestId request_id(ConnectionHandle h) {
    return {h.loop(), h.index(), h.generation()};
}

// A close the server starts because something went wrong: a protocol
// violation (1002, 1007), a limit (1008, 1009), an error of its own (1011),
// no room (1013). Closes that are business as usual (1000, 1001 at
// shutdown or idle, an application's own codes >= 3000) are debug lines.
inline constexpr io::LogEvent kFaultCloseEvent{"close", io::LogLevel::info};
inline constexpr io::LogEvent kRoutineCloseEvent{"close_routine", io::LogLevel::debug};
// A connection's life at debug level: accepted, upgraded, released.
inline constexpr io::LogEvent kAcceptedEvent{"accepted", io::LogLevel::debug};
inline constexpr io::LogEvent kUpgradedEvent{"upgraded", io::LogLevel::debug};
inline constexpr io::LogEvent kReleasedEvent{"released", io::LogLevel::debug};

constexpr bool routine_close(uint16_t code) {
    return code == 1000 || code == 1001 || code >= 3000;
}

// "closed fd F: CODE reason (conn L.S.G)", keyed by the close code.
inline void log_server_close(io::RequestId id, int fd, uint16_t code, std::string_view reason) {
    io::log_limited(routine_close(code) ? kRoutineCloseEvent : kFaultCloseEvent, code, id,
                    {{"fd", fd}, {"code", code}, {"reason", reason}}, "closed fd %d: %u %.*s", fd,
                    unsigned{code}, static_cast<int>(reason.size()), reason.data());
}

}  // namespace wsgate::ws
