// The reverse proxy's part of GET /metrics: per upstream server (labels
// pool, server) its state, effective weight, live connections, failures,
// health checks and times it went down.
#pragma once

#include "gateway/prometheus_text.hpp"
#include "proxy/route_table.hpp"
#include "proxy/upstream_live.hpp"

namespace wsgate::gateway {

void proxy_metrics(PrometheusText& out, const proxy::RouteTable& routes,
                   const proxy::UpstreamLive& live);

}  // namespace wsgate::gateway
