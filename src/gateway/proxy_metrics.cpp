#include "gateway/proxy_metrics.hpp"

#include <atomic>

namespace wsgate::gateway {

void proxy_metrics(PrometheusText& out, const proxy::RouteTable& routes,
                   const proxy::UpstreamLive& live) {
    const int64_t now = proxy::monotonic_ms();
    // f(pool, server name, its ServerLive, its effective weight now) for every server.
    auto each = [&](auto&& f) {
        for (uint32_t p = 0; p < routes.pools().size(); ++p) {
            const proxy::UpstreamPool& pool = routes.pools()[p];
            for (uint32_t s = 0; s < pool.servers.size(); ++s) {
                const proxy::ServerLive& record = live.server(p, s);
                f(pool.name, pool.servers[s].name, record,
                  live.effective_weight(record, pool.servers[s].weight, now,
                                        pool.check.has_value()));
            }
        }
    };
    auto load = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };

    out.family("wsgate_upstream_up",
               "1 while the server takes new connections (health check up, not out after "
               "failures).",
               "gauge");
    each([&](const std::string& pool, const std::string& server, const proxy::ServerLive&,
             uint32_t effective) {
        uint64_t up = effective > 0 ? 1 : 0;
        out.sample("wsgate_upstream_up", {{"pool", pool}, {"server", server}}, up);
    });
    out.family("wsgate_upstream_weight",
               "Effective weight for new connections (below the configured one during slow "
               "start, 0 while down).",
               "gauge");
    each([&](const std::string& pool, const std::string& server, const proxy::ServerLive&,
             uint32_t effective) {
        double w = static_cast<double>(effective) / static_cast<double>(proxy::kWeightScale);
        out.sample("wsgate_upstream_weight", {{"pool", pool}, {"server", server}}, w);
    });
    out.family("wsgate_upstream_connections", "Proxied connections open to the server.", "gauge");
    each([&](const std::string& pool, const std::string& server, const proxy::ServerLive& s,
             uint32_t) {
        out.sample("wsgate_upstream_connections", {{"pool", pool}, {"server", server}},
                   uint64_t{s.connections.load(std::memory_order_relaxed)});
    });
    out.family("wsgate_upstream_failures_total",
               "New connections to the server that failed: connect (refused, unreachable, timed "
               "out) or handshake (closed before answering).",
               "counter");
    each([&](const std::string& pool, const std::string& server, const proxy::ServerLive& s,
             uint32_t) {
        out.sample("wsgate_upstream_failures_total",
                   {{"pool", pool}, {"server", server}, {"kind", "connect"}},
                   load(s.connect_failures));
        out.sample("wsgate_upstream_failures_total",
                   {{"pool", pool}, {"server", server}, {"kind", "handshake"}},
                   load(s.handshake_failures));
    });
    out.family("wsgate_upstream_health_checks_total", "Active health checks by result.", "counter");
    each([&](const std::string& pool, const std::string& server, const proxy::ServerLive& s,
             uint32_t) {
        out.sample("wsgate_upstream_health_checks_total",
                   {{"pool", pool}, {"server", server}, {"result", "passed"}},
                   load(s.checks_passed));
        out.sample("wsgate_upstream_health_checks_total",
                   {{"pool", pool}, {"server", server}, {"result", "failed"}},
                   load(s.checks_failed));
    });
    out.family("wsgate_upstream_down_total",
               "Times the server went down (health check) or was taken out (failures).", "counter");
    each([&](const std::string& pool, const std::string& server, const proxy::ServerLive& s,
             uint32_t) {
        out.sample("wsgate_upstream_down_total", {{"pool", pool}, {"server", server}},
                   load(s.went_down));
    });
}

}  // namespace wsgate::gateway
