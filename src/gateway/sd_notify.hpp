// The systemd service notification protocol (sd_notify(3), "Type=notify"):
// one datagram of newline-separated VAR=value lines to the AF_UNIX socket
// named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
// A minimal implementation rather than libsystemd: three messages, no
// dependency, and a process started without systemd sends nothing.
#pragma once

#include <string_view>

namespace wsgate::gateway {

// Sends `state` (e.g. "READY=1") to $NOTIFY_SOCKET. Returns true when sent,
// false when the variable is unset (not under systemd) or the send failed.
bool sd_notify_state(std::string_view state);

// The three moments wsgate reports (systemd.service(5), Type=notify and
// Type=notify-reload): serving; reloading (with the CLOCK_MONOTONIC time
// systemd asks for, in microseconds); stopping.
bool notify_ready();
bool notify_reloading();
bool notify_stopping();

}  // namespace wsgate::gateway
