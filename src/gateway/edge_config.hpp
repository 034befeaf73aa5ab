// The admission settings of a Config (--allow-origin, head limits, message
// and byte rates) as the loops take them (ws::EdgeLimits).
#pragma once

#include <string>
#include <string_view>

#include "gateway/config.hpp"
#include "ws/edge_limits.hpp"
#include "ws/peer_admission.hpp"

namespace wsgate::gateway {

// One --allow-origin value, "[ADDR:PORT=|/PREFIX=]PATTERN": "" or what is wrong.
std::string check_origin_rule(std::string_view rule);

// Fills *out from config. "" or an error: an --allow-origin address that is
// not one of the --listen addresses, or that is the seventh or a later one
// (per-listener lists cover the first six; later listeners share one).
// A path prefix scope ("/chat=https://app.example.com") applies to upgrades
// whose path starts with it (the proxy's --route prefixes are such).
std::string edge_limits(const Config& config, ws::EdgeLimits* out);

// The per-address limits (--max-connections-per-ip, --connection-rate-per-ip)
// for a process of `threads` loops, each with `refusal_slots` sockets
// beyond --max-connections (ws::kRefusalSlots).
ws::PeerAdmissionSettings peer_admission_settings(const Config& config, unsigned threads,
                                                  uint32_t refusal_slots);

}  // namespace wsgate::gateway
