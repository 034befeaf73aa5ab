// What every loop of the proxy shares about its upstream servers while it
// runs: live connections (least-conn and bounded-load hashing count them
// across loops) and health: the last active check's verdict, passive
// failures (consecutive connect or handshake failures take a server out for
// a while, then its weight ramps back: slow start), and counters for
// /metrics. Relaxed atomics, touched once per proxied connection or check,
// never per message; two loops picking at the same instant may each see the
// other's connection not yet counted, so a load bound can be passed by at
// most one connection per other loop, for that instant.
//
// Times are CLOCK_MONOTONIC milliseconds (monotonic_ms), one clock for all
// loops. A server is eligible for new connections when its check says up
// and it is not passively out; its existing connections are never touched.
//
// A reload builds the next table's UpstreamLive from the running one: a
// server that stays (the same name and address in the same pool) shares
// its ServerLive, so its connection count, health verdict, failures and
// counters carry on whatever its position; a removed server's record lives
// on as long as a connection of an older table counts in it.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "proxy/balancer.hpp"
#include "proxy/health_check.hpp"
#include "proxy/route_table.hpp"

namespace wsgate::proxy {

int64_t monotonic_ms();

// Candidate weights are configured weights times this, so slow start can
// ramp a weight-1 server in 100 steps; a uniform factor changes no picker's
// choice (each compares weights with each other only).
inline constexpr uint32_t kWeightScale = 100;

struct alignas(64) ServerLive {
    std::atomic<uint32_t> connections{0};
    std::atomic<uint32_t> consecutive_failures{0};
    std::atomic<bool> check_up{true};       // the active check's verdict (up without checks)
    std::atomic<bool> passive_out{false};   // taken out by failures, not yet back
    std::atomic<int64_t> out_until_ms{0};   // passive: no new connections before this
    std::atomic<int64_t> ramp_from_ms{-1};  // slow start began here (-1: none)
    // Counters for /metrics.
    std::atomic<uint64_t> connect_failures{0};
    std::atomic<uint64_t> handshake_failures{0};
    std::atomic<uint64_t> checks_passed{0};
    std::atomic<uint64_t> checks_failed{0};
    std::atomic<uint64_t> went_down{0};
};

enum class FailureKind : uint8_t { connect, handshake };

// Errors of this process, not of the server (out of descriptors, slots or
// memory; shutting down): they count against no server's health.
inline bool local_error(int error) {
    return error == -EMFILE || error == -ENFILE || error == -ENOBUFS || error == -ENOMEM ||
           error == -ESHUTDOWN;
}
enum class HealthChange : uint8_t { none, down, up };

class UpstreamLive {
  public:
    // `table`'s servers; with `previous` (the running table and its live
    // state), each server that stays in its pool shares its record there.
    explicit UpstreamLive(const RouteTable& table, const RouteTable* previous_table = nullptr,
                          const UpstreamLive* previous = nullptr);

    ServerLive& server(uint32_t pool, uint32_t server) const { return *pools_[pool][server]; }
    const PassiveHealth& passive() const { return passive_; }
    // Servers whose record came from the previous table.
    uint32_t carried() const { return carried_; }

    // The weight new connections see at `now_ms`, times kWeightScale: 0
    // while the server is down (check) or out (failures); during slow start
    // a share growing linearly from the start, at least 1. `checked`: its
    // pool has an active check (without one, a verdict left from an earlier
    // configuration is not consulted).
    uint32_t effective_weight(const ServerLive& s, uint32_t weight, int64_t now_ms,
                              bool checked = true) const;

    // The servers of `pool` as the pickers see them at now_ms, those in
    // `tried` (bit i: server i) left out; out has room for pool.servers.size().
    void candidates(uint32_t pool_index, const UpstreamPool& pool, uint64_t tried, int64_t now_ms,
                    Candidate* out) const;

    // A connect or handshake failure (or success) of a new connection.
    // `down` when this failure took the server out (max_fails in a row;
    // never when !may_take_out: as nginx, the only server of a pool is
    // not taken out, its clients get the failure itself): exactly one
    // caller, on any loop, gets it, and logs it.
    HealthChange note_failure(ServerLive& s, FailureKind kind, int64_t now_ms,
                              bool may_take_out) const;
    void note_success(ServerLive& s) const;
    // `up` once a server taken out by failures is eligible again (its time
    // out passed): exactly one caller gets it.
    HealthChange passive_return(ServerLive& s, int64_t now_ms) const;

    // An active check's verdict after rise passes or fall failures: `up` or
    // `down` when it changes the server's state.
    HealthChange set_check_verdict(ServerLive& s, bool up, int64_t now_ms) const;

  private:
    std::vector<std::vector<std::shared_ptr<ServerLive>>> pools_;
    PassiveHealth passive_;
    uint32_t carried_ = 0;
};

}  // namespace wsgate::proxy

namespace wsgate::proxy {

// One stderr line per state change of a server.
void log_taken_out(const UpstreamPool& pool, const UpstreamServer& server, uint32_t failures,
                   FailureKind last_kind, std::string_view last_error,
                   const PassiveHealth& passive);
void log_passive_return(const UpstreamPool& pool, const UpstreamServer& server,
                        const PassiveHealth& passive);
void log_check_change(const UpstreamPool& pool, const UpstreamServer& server, HealthChange change,
                      uint32_t streak, std::string_view last_result, const PassiveHealth& passive);

}  // namespace wsgate::proxy
