// One generation of the proxy's routing: the route table (routes, pools,
// their policies and checks) and the live state of its servers, immutable
// once built and shared by reference count. Start-up builds the first; a
// reload builds the next from the file (gateway::ProxyRoutesReload) and
// hands it to every loop with the settings snapshot. A loop routes new
// connections with the newest it adopted; a connection keeps the table it
// was routed with until it ends, so a removed server or pool drains: its
// relays go on untouched and it gets no new connection.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "proxy/route_table.hpp"
#include "proxy/upstream_live.hpp"

namespace wsgate::proxy {

struct ProxyTable {
    // `previous`: the running table, whose servers that stay lend their
    // live state (upstream_live.hpp); nullptr at start-up.
    ProxyTable(RouteTable table, const ProxyTable* previous)
        : routes(std::move(table)),
          live(routes, previous ? &previous->routes : nullptr,
               previous ? &previous->live : nullptr) {}

    const RouteTable routes;
    const UpstreamLive live;
};

// What a reload hands each proxy loop with the settings snapshot
// (ProxyApp::on_settings): the routing (the running table again when the
// routing did not change) and the upstream timing, which applies to
// connects started and pings scheduled from then on.
struct ProxyReload {
    std::shared_ptr<const ProxyTable> table;
    uint32_t connect_timeout_ms = 5000;          // --upstream-connect-timeout
    uint32_t upstream_ping_interval_ms = 30000;  // --upstream-ping-interval; 0: none
};

// Whether two finished tables route and balance alike: the same routes,
// pools, servers (names, addresses, weights), policies, checks, bounded-load
// factor and passive policy. A reload that changes none of it keeps the
// running table (and each loop's round-robin positions and check streaks).
bool same_routing(const RouteTable& a, const RouteTable& b);

// What a reload changes, for its report: "proxy routes: +pool chat, -server
// echo 127.0.0.1:9001, +route /chat, ..." (at most a few names, then a count).
std::string describe_routing_change(const RouteTable& before, const RouteTable& after);

// The newest table, for readers off the loops (/metrics) and the reload
// hook; any thread.
class CurrentProxyTable {
  public:
    std::shared_ptr<const ProxyTable> get() const {
        std::lock_guard lock(mutex_);
        return table_;
    }
    void set(std::shared_ptr<const ProxyTable> table) {
        std::lock_guard lock(mutex_);
        table_ = std::move(table);
    }

  private:
    mutable std::mutex mutex_;
    std::shared_ptr<const ProxyTable> table_;
};

}  // namespace wsgate::proxy
