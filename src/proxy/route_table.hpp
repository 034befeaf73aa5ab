// The reverse proxy's routing: upstream pools (named lists of servers with
// weights, and how each picks a server) and routes from a request path
// prefix to a pool, in one table filled from flags (--upstream, --route,
// --balance) and read-only once the loops run: a reload builds a new one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <optional>
#include "io/listener.hpp"

#include "proxy/balancer.hpp"
#include "proxy/health_check.hpp"

namespace wsgate::proxy {

struct UpstreamServer {
    io::Endpoint endpoint;  // a name's: resolved by RouteTable::finish
    // As printed in log lines and hashed on the ring: "1.2.3.4:PORT",
    // "[::1]:PORT", or "NAME:PORT" as given (so its keys stay put when the
    // name resolves to another address).
    std::string name;
    std::string host_name;  // given as NAME:PORT (else empty)
    uint16_t port = 0;
    uint32_t weight = 1;
};

struct UpstreamPool {
    std::string name;
    std::vector<UpstreamServer> servers;
    BalancePolicy balance;                 // round robin unless --balance says otherwise
    HashRing ring;                         // built by finish() for BalanceKind::hash
    std::optional<HealthCheckSpec> check;  // active health checks (--health-check)
};

// How a route's WebSocket is relayed (docs/proxy.md): tunnel - bytes
// unchanged both ways after the upstream's 101; frames - wsgate terminates
// WebSocket on both sides (every client frame checked, re-masked upstream).
enum class Relay : uint8_t { tunnel, frames };

struct Route {
    std::string host;  // lower case, no port; empty: any Host (a fallback)
    std::string prefix;
    std::string pool_name;
    Relay relay = Relay::tunnel;
    uint32_t pool = 0;  // index into RouteTable::pools(), set by finish()
};

inline constexpr uint32_t kMaxWeight = 1000;
// A connection remembers the servers it tried in one 64-bit set.
inline constexpr size_t kMaxPoolServers = 64;
inline constexpr double kDefaultHashBalanceFactor = 1.25;

class RouteTable {
  public:
    // "POOL=HOST:PORT[,weight=W]" (numeric IPv4, IPv6 in brackets, or a DNS
    // name; W in 1..kMaxWeight, default 1): one server more in POOL. Empty or
    // an error.
    std::string add_upstream(std::string_view spec);
    // "PREFIX=POOL[,relay=tunnel|frames]": requests whose path starts with
    // PREFIX go to POOL. A prefix given twice is an error.
    std::string add_route(std::string_view spec);
    // "POOL=round-robin|least-conn|hash:ip|hash:header:NAME|hash:cookie:NAME|
    // hash:query:NAME" (balancer.hpp). Empty or an error.
    std::string add_balance(std::string_view spec);
    // Bounded load for hashing pools: no server above ceil(c × average); 0: off.
    void set_hash_balance_factor(double c) { hash_balance_factor_ = c; }
    double hash_balance_factor() const { return hash_balance_factor_; }
    // "POOL=path=/healthz,interval=2,timeout=1,rise=2,fall=3" (health_check.hpp;
    // any subset, the rest default): POOL's servers are checked. Empty or an error.
    std::string add_health_check(std::string_view spec);
    // Connect/handshake failures that take a server out, for how long, and
    // its slow start, for every pool.
    void set_passive(const PassiveHealth& passive) { passive_ = passive; }
    const PassiveHealth& passive() const { return passive_; }
    // Resolves every route's and --balance's pool once all flags are in,
    // resolves server names (getaddrinfo, blocking: call it at start-up or
    // on a reload's thread, never on a loop; the first address it gives is
    // used) and builds the hash rings. Empty or an error (no route, an
    // unknown pool, a name that does not resolve).
    std::string finish();

    // The pool of the longest route prefix that the path of `target` (the
    // request target without its query) starts with; nullptr: no route.
    const UpstreamPool* match(std::string_view target) const;
    // Its index in pools(), or -1.
    int match_index(std::string_view target) const;
    // The route itself, or nullptr. With `host` (the request's Host value,
    // port and case ignored): the longest prefix among that host's routes,
    // else among the host-less ones.
    const Route* match_route(std::string_view target, std::string_view host = {}) const;

    const std::vector<UpstreamPool>& pools() const { return pools_; }
    const std::vector<Route>& routes() const { return routes_; }
    bool empty() const { return routes_.empty(); }

  private:
    std::vector<UpstreamPool> pools_;
    std::vector<Route> routes_;  // longest prefix first (after finish)
    bool has_host_routes_ = false;
    std::vector<std::pair<std::string, BalancePolicy>> balances_;  // until finish
    double hash_balance_factor_ = kDefaultHashBalanceFactor;
    std::vector<std::pair<std::string, HealthCheckSpec>> checks_;  // until finish
    PassiveHealth passive_;
};

// Smooth weighted round robin (as nginx's upstream module): each pick adds
// every server's weight to its current value, takes the largest and
// subtracts the total from it, so a pool of weights 5,1,1 goes
// a a b a c a a rather than a a a a a b c. One per loop per pool.
class RoundRobin {
  public:
    explicit RoundRobin(const UpstreamPool& pool) : current_(pool.servers.size(), 0) {}
    // The next server's index, all servers at their configured weights.
    uint32_t next(const UpstreamPool& pool);
    // The next among the eligible (weight > 0) at their effective weights;
    // kNoServer when none is.
    int next(std::span<const Candidate> servers);

  private:
    std::vector<int64_t> current_;
};

}  // namespace wsgate::proxy
