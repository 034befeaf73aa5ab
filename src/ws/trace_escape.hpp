// --trace output: handshake bytes made readable on one log line.
#pragma once

#include <string>
#include <string_view>

namespace wsgate::ws {

// Returns bytes with CR shown as "␍", LF as "␊", other control bytes and
// bytes >= 0x7F as "\xHH"; everything else unchanged.
std::string trace_escape(std::string_view bytes);

}  // namespace wsgate::ws
