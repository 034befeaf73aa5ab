// What every loop of the proxy shares about its upstream servers while it
// runs: live connections per server (least-conn and bounded-load hashing
// count them across loops). Relaxed atomics, touched once per proxied
// connection and never per message; two loops picking at the same instant
// may each see the other's connection not yet counted, so the bound can be
// passed by at most one connection per other loop, for that instant.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "proxy/balancer.hpp"
#include "proxy/route_table.hpp"

namespace wsgate::proxy {

struct alignas(64) ServerLive {
    std::atomic<uint32_t> connections{0};
};

class UpstreamLive {
  public:
    explicit UpstreamLive(const RouteTable& table) {
        for (const UpstreamPool& pool : table.pools()) {
            pools_.push_back(std::make_unique<ServerLive[]>(pool.servers.size()));
        }
    }

    ServerLive& server(uint32_t pool, uint32_t server) const { return pools_[pool][server]; }

    // The servers of `pool` as the pickers see them, those in `tried` (bit i:
    // server i) left out; out has room for pool.servers.size().
    void candidates(uint32_t pool_index, const UpstreamPool& pool, uint64_t tried,
                    Candidate* out) const {
        for (size_t i = 0; i < pool.servers.size(); ++i) {
            const ServerLive& s = pools_[pool_index][i];
            out[i].connections = s.connections.load(std::memory_order_relaxed);
            out[i].weight = (tried >> i) & 1 ? 0 : pool.servers[i].weight;
        }
    }

  private:
    std::vector<std::unique_ptr<ServerLive[]>> pools_;
};

}  // namespace wsgate::proxy
