#include "gateway/live_reload_hooks.hpp"

#include "gateway/edge_config.hpp"
#include "ws/server_loop.hpp"

namespace wsgate::gateway {

std::string PeerLimitsReload::prepare(const Config& running, const Config& next,
                                      std::vector<std::string>*) {
    // The plan already names the keys that changed (reload_policy.cpp).
    pending_ = running.max_connections_per_ip != next.max_connections_per_ip ||
               running.connection_rate_per_ip != next.connection_rate_per_ip ||
               running.connection_burst_per_ip != next.connection_burst_per_ip ||
               running.ipv6_prefix_length != next.ipv6_prefix_length;
    if (pending_) next_ = peer_admission_settings(next, threads_, ws::kRefusalSlots);
    return {};
}

void PeerLimitsReload::commit() {
    if (pending_) admission_.update(next_);
    pending_ = false;
}

}  // namespace wsgate::gateway
