#include "proxy/upstream_live.hpp"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "io/log.hpp"

namespace wsgate::proxy {

int64_t monotonic_ms() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1000000;
}

namespace {

// A server is the same across tables when its pool, name and address are:
// a name that now resolves elsewhere is a new server (its keys stay on the
// ring, which hashes the name, but its health is the new address's).
bool same_server(const UpstreamServer& a, const UpstreamServer& b) {
    return a.name == b.name && a.endpoint.len == b.endpoint.len &&
           std::memcmp(&a.endpoint.addr, &b.endpoint.addr, a.endpoint.len) == 0;
}

}  // namespace

UpstreamLive::UpstreamLive(const RouteTable& table, const RouteTable* previous_table,
                           const UpstreamLive* previous)
    : passive_(table.passive()) {
    for (const UpstreamPool& pool : table.pools()) {
        const UpstreamPool* before = nullptr;
        size_t before_index = 0;
        if (previous_table != nullptr && previous != nullptr) {
            for (; before_index < previous_table->pools().size(); ++before_index) {
                if (previous_table->pools()[before_index].name == pool.name) {
                    before = &previous_table->pools()[before_index];
                    break;
                }
            }
        }
        std::vector<std::shared_ptr<ServerLive>>& records = pools_.emplace_back();
        for (const UpstreamServer& server : pool.servers) {
            std::shared_ptr<ServerLive> record;
            for (size_t i = 0; before != nullptr && i < before->servers.size() && !record; ++i) {
                if (same_server(before->servers[i], server))
                    record = previous->pools_[before_index][i];
            }
            if (record) {
                ++carried_;
                // A check added to the pool judges from scratch, as at start-up
                // (nothing wrote the verdict while the pool had no check).
                if (pool.check && !before->check) record->check_up.store(true);
            } else {
                record = std::make_shared<ServerLive>();
            }
            records.push_back(std::move(record));
        }
    }
}

uint32_t UpstreamLive::effective_weight(const ServerLive& s, uint32_t weight, int64_t now_ms,
                                        bool checked) const {
    if (checked && !s.check_up.load(std::memory_order_relaxed)) return 0;
    if (s.passive_out.load(std::memory_order_relaxed) &&
        now_ms < s.out_until_ms.load(std::memory_order_relaxed)) {
        return 0;
    }
    const int64_t full = int64_t{weight} * kWeightScale;
    int64_t from = s.ramp_from_ms.load(std::memory_order_relaxed);
    const int64_t ramp = passive_.slow_start_ms;
    if (from < 0 || ramp == 0 || now_ms >= from + ramp) return static_cast<uint32_t>(full);
    if (now_ms <= from) return 1;
    int64_t w = full * (now_ms - from) / ramp;
    return static_cast<uint32_t>(std::max<int64_t>(w, 1));
}

void UpstreamLive::candidates(uint32_t pool_index, const UpstreamPool& pool, uint64_t tried,
                              int64_t now_ms, Candidate* out) const {
    for (size_t i = 0; i < pool.servers.size(); ++i) {
        const ServerLive& s = *pools_[pool_index][i];
        out[i].connections = s.connections.load(std::memory_order_relaxed);
        out[i].weight = (tried >> i) & 1 ? 0
                                         : effective_weight(s, pool.servers[i].weight, now_ms,
                                                            pool.check.has_value());
    }
}

HealthChange UpstreamLive::note_failure(ServerLive& s, FailureKind kind, int64_t now_ms,
                                        bool may_take_out) const {
    (kind == FailureKind::connect ? s.connect_failures : s.handshake_failures)
        .fetch_add(1, std::memory_order_relaxed);
    if (passive_.max_fails == 0 || !may_take_out) return HealthChange::none;
    uint32_t n = s.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n < passive_.max_fails) return HealthChange::none;
    bool was_out = false;
    // Failures of connections picked before it went out do not extend it.
    if (!s.passive_out.compare_exchange_strong(was_out, true, std::memory_order_relaxed)) {
        return HealthChange::none;
    }
    const int64_t until = now_ms + passive_.fail_timeout_ms;
    s.out_until_ms.store(until, std::memory_order_relaxed);
    s.ramp_from_ms.store(until, std::memory_order_relaxed);
    s.consecutive_failures.store(0, std::memory_order_relaxed);
    s.went_down.fetch_add(1, std::memory_order_relaxed);
    return HealthChange::down;
}

void UpstreamLive::note_success(ServerLive& s) const {
    if (s.consecutive_failures.load(std::memory_order_relaxed) != 0) {
        s.consecutive_failures.store(0, std::memory_order_relaxed);
    }
}

HealthChange UpstreamLive::passive_return(ServerLive& s, int64_t now_ms) const {
    if (!s.passive_out.load(std::memory_order_relaxed) ||
        now_ms < s.out_until_ms.load(std::memory_order_relaxed)) {
        return HealthChange::none;
    }
    bool out = true;
    if (!s.passive_out.compare_exchange_strong(out, false, std::memory_order_relaxed)) {
        return HealthChange::none;
    }
    s.consecutive_failures.store(0, std::memory_order_relaxed);
    return HealthChange::up;
}

HealthChange UpstreamLive::set_check_verdict(ServerLive& s, bool up, int64_t now_ms) const {
    if (s.check_up.exchange(up, std::memory_order_relaxed) == up) return HealthChange::none;
    if (up) {
        s.ramp_from_ms.store(now_ms, std::memory_order_relaxed);
        return HealthChange::up;
    }
    s.went_down.fetch_add(1, std::memory_order_relaxed);
    return HealthChange::down;
}

}  // namespace wsgate::proxy

namespace wsgate::proxy {

namespace {

double seconds(uint32_t ms) {
    return static_cast<double>(ms) / 1000.0;
}

}  // namespace

void log_taken_out(const UpstreamPool& pool, const UpstreamServer& server, uint32_t failures,
                   FailureKind last_kind, std::string_view last_error,
                   const PassiveHealth& passive) {
    io::log(io::LogLevel::info, "", io::kNoConn, {},
            "proxy: pool %s server %s out: %u connect/handshake failures in a row (last: %s %.*s); "
            "no new connections for %g s",
            pool.name.c_str(), server.name.c_str(), failures,
            last_kind == FailureKind::connect ? "connect" : "handshake",
            static_cast<int>(last_error.size()), last_error.data(),
            seconds(passive.fail_timeout_ms));
}

void log_passive_return(const UpstreamPool& pool, const UpstreamServer& server,
                        const PassiveHealth& passive) {
    io::log(io::LogLevel::info, "", io::kNoConn, {},
            "proxy: pool %s server %s back after %g s out (slow start %g s)", pool.name.c_str(),
            server.name.c_str(), seconds(passive.fail_timeout_ms), seconds(passive.slow_start_ms));
}

void log_check_change(const UpstreamPool& pool, const UpstreamServer& server, HealthChange change,
                      uint32_t streak, std::string_view last_result, const PassiveHealth& passive) {
    if (change == HealthChange::down) {
        io::log(io::LogLevel::error, "", io::kNoConn, {},
                "proxy: pool %s server %s down: %u health checks failed in a row (last: %.*s)",
                pool.name.c_str(), server.name.c_str(), streak,
                static_cast<int>(last_result.size()), last_result.data());
    } else if (change == HealthChange::up) {
        io::log(io::LogLevel::info, "", io::kNoConn, {},
                "proxy: pool %s server %s up: %u health checks passed in a row (slow start %g s)",
                pool.name.c_str(), server.name.c_str(), streak, seconds(passive.slow_start_ms));
    }
}

}  // namespace wsgate::proxy
