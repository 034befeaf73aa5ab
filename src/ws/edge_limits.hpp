// Admission at the edge: what a client may do before and after its upgrade
// (LoopSettings::edge, replaced by a reload's snapshot). Each limit is off at its zero /
// empty value; the checks live in ws/edge_admission.hpp (per connection)
// and ws/peer_admission.hpp (per client address, shared by the loops).
#pragma once

#include <cstdint>

#include "proto/http_request.hpp"
#include "ws/origin_allow_list.hpp"

namespace wsgate::ws {

struct EdgeLimits {
    // Origin allow-lists, global, by listener slot (LoopMetrics::listener_slot)
    // and by path prefix: an upgrade whose Origin is not allowed gets 403
    // before it is validated.
    OriginPolicy origins;

    // IPv6 clients count per prefix of this many bits for the per-address
    // limits (the handshake cap and ws/peer_admission.hpp).
    uint32_t ipv6_prefix_bits = 64;

    // Request heads: larger or with more fields get 431 (RFC 6585 §5).
    proto::HttpLimits head;

    // Per connection, once open (token buckets on the loop's clock of the
    // turn): data messages and ping/pong frames, and payload bytes, per
    // second, with their bursts. Over either: close 1008 (RFC 6455 §7.4.1).
    uint64_t messages_per_second = 0;
    uint64_t message_burst = 0;
    uint64_t bytes_per_second = 0;
    uint64_t byte_burst = 0;

    bool limits_message_rate() const { return messages_per_second != 0 || bytes_per_second != 0; }
};

}  // namespace wsgate::ws
