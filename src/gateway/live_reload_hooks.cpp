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

std::string ProxyRoutesReload::prepare(const Config&, const Config& next,
                                       std::vector<std::string>* changed) {
    prepared_.reset();
    proxy::RouteTable routes;
    if (std::string e = proxy_routes(next, &routes); !e.empty()) return e;
    std::shared_ptr<const proxy::ProxyTable> running = current_.get();
    if (proxy::same_routing(running->routes, routes)) return {};
    changed->push_back(proxy::describe_routing_change(running->routes, routes));
    prepared_ = std::make_shared<proxy::ProxyTable>(std::move(routes), running.get());
    return {};
}

void ProxyRoutesReload::fill(SettingsSnapshot& next) {
    next.proxy.table = prepared_ ? prepared_ : current_.get();
}

void ProxyRoutesReload::commit() {
    if (prepared_) current_.set(std::move(prepared_));
    prepared_.reset();
}

std::shared_ptr<const proxy::ProxyTable> start_proxy_table(const Config& config) {
    proxy::RouteTable routes;
    proxy_routes(config, &routes);  // checked by parse_config
    return std::make_shared<proxy::ProxyTable>(std::move(routes), nullptr);
}

}  // namespace wsgate::gateway
