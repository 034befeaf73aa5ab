// The reverse proxy's routing: upstream pools (named lists of servers with
// weights) and routes from a request path prefix to a pool, in one table
// filled from flags (--upstream, --route) and read-only once the loops run.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/listener.hpp"

namespace wsgate::proxy {

struct UpstreamServer {
    io::Endpoint endpoint;
    std::string name;  // as printed in log lines: "1.2.3.4:PORT" / "[::1]:PORT"
    uint32_t weight = 1;
};

struct UpstreamPool {
    std::string name;
    std::vector<UpstreamServer> servers;
};

struct Route {
    std::string prefix;
    std::string pool_name;
    uint32_t pool = 0;  // index into RouteTable::pools(), set by finish()
};

inline constexpr uint32_t kMaxWeight = 1000;

class RouteTable {
  public:
    // "POOL=HOST:PORT[,weight=W]" (numeric IPv4, or IPv6 in brackets; W in
    // 1..kMaxWeight, default 1): one server more in POOL. Empty or an error.
    std::string add_upstream(std::string_view spec);
    // "PREFIX=POOL": requests whose path starts with PREFIX go to POOL. A
    // prefix given twice is an error.
    std::string add_route(std::string_view spec);
    // Resolves every route's pool once all flags are in. Empty or an error
    // (no route, a route to an unknown pool).
    std::string finish();

    // The pool of the longest route prefix that the path of `target` (the
    // request target without its query) starts with; nullptr: no route.
    const UpstreamPool* match(std::string_view target) const;
    // Its index in pools(), or -1.
    int match_index(std::string_view target) const;

    const std::vector<UpstreamPool>& pools() const { return pools_; }
    const std::vector<Route>& routes() const { return routes_; }
    bool empty() const { return routes_.empty(); }

  private:
    std::vector<UpstreamPool> pools_;
    std::vector<Route> routes_;  // longest prefix first (after finish)
};

// Smooth weighted round robin (as nginx's upstream module): each pick adds
// every server's weight to its current value, takes the largest and
// subtracts the total from it, so a pool of weights 5,1,1 goes
// a a b a c a a rather than a a a a a b c. One per loop per pool.
class RoundRobin {
  public:
    explicit RoundRobin(const UpstreamPool& pool) : current_(pool.servers.size(), 0) {}
    // The next server's index.
    uint32_t next(const UpstreamPool& pool);

  private:
    std::vector<int64_t> current_;
};

}  // namespace wsgate::proxy
