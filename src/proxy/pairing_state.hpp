// What a live upgrade carries of a proxied connection beyond its two sockets
// (ws/connection_export.hpp: the lead's application state of a joined
// pair): the relay mode, which server of which pool it is counted against —
// by names (pool name, server as written in --upstream), not by position,
// so a new process whose configuration lists pools or servers in another
// order still counts it against the right one — and, for a frames relay,
// how long until its upstream's next keepalive ping. Everything else of a
// pairing is at rest when it moves (both decoders between messages, no
// fragmented message half relayed, nothing queued): a client-role mask is
// chosen per frame, and no upstream handshake is in flight.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "proxy/route_table.hpp"

namespace wsgate::proxy {

struct PairingState {
    Relay relay = Relay::tunnel;
    uint32_t ping_due_ms = 0;  // frames: until the upstream's next keepalive ping
    std::string_view pool;     // UpstreamPool::name; empty: not counted
    std::string_view server;   // UpstreamServer::name
};

// Names longer than this are not carried (the pairing moves uncounted).
inline constexpr size_t kMaxPairingName = 400;
// An upper bound of what append_pairing_state adds.
inline constexpr size_t kMaxPairingStateBytes = 12 + 2 * kMaxPairingName;

// Appends the state (a fixed header, then the names) to `out`.
void append_pairing_state(const PairingState& state, std::vector<uint8_t>& out);
// Reads one; its names are views into `bytes`. False when it is not one
// (wrong version, truncated, an unknown relay mode).
bool read_pairing_state(std::span<const uint8_t> bytes, PairingState* state);

}  // namespace wsgate::proxy
