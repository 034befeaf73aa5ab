// Active health checks, run by the proxy's loops themselves: no thread of
// their own, nothing blocking. Each (pool, server) with a --health-check
// belongs to one loop (its ordinal modulo the loop count), which every
// interval opens an outbound stream to it (loop.connect), sends
// `GET PATH HTTP/1.1` with `Connection: close`, and judges the status line
// (2xx/3xx pass, anything else, a refused or failed connect, a close before
// the status line, or no status line within the timeout: fail). `rise`
// passes in a row bring a down server up (then slow start), `fall` failures
// take an up one down; the verdict goes to UpstreamLive, read by every loop.
// The same owner loop logs when a server taken out by passive failures is
// back (UpstreamLive::passive_return), waking for it.
//
// A probe's stream carries kProbeTag | index in its app_state, so the
// proxy's stream callbacks hand it here.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "proxy/health_check.hpp"
#include "proxy/route_table.hpp"
#include "proxy/upstream_live.hpp"
#include "ws/connection_handle.hpp"

namespace wsgate::proxy {

class HealthProber {
  public:
    static constexpr uint64_t kProbeTag = uint64_t{1} << 62;
    static bool is_probe(uint64_t app_state) { return (app_state & kProbeTag) != 0; }

    // The checks of `table`'s servers that this loop (of `loops`) owns. A
    // reload makes a new prober for the new table (after stop()): verdicts
    // live on in `live`, the streaks of the checks in flight start again.
    HealthProber(const RouteTable& table, const UpstreamLive& live, uint32_t loop, uint32_t loops)
        : table_(&table), live_(&live) {
        uint32_t ordinal = 0;
        for (uint32_t p = 0; p < table.pools().size(); ++p) {
            const UpstreamPool& pool = table.pools()[p];
            for (uint32_t s = 0; s < pool.servers.size(); ++s, ++ordinal) {
                if (ordinal % std::max<uint32_t>(loops, 1) != loop) continue;
                owned_.push_back(Owned{p, s});
                if (!pool.check) continue;
                Probe probe;
                probe.pool = p;
                probe.server = s;
                probe.request = "GET " + pool.check->path +
                                " HTTP/1.1\r\nHost: " + pool.servers[s].name +
                                "\r\nUser-Agent: wsgate-health-check\r\nConnection: close\r\n\r\n";
                probes_.push_back(std::move(probe));
            }
        }
    }

    // ---- the probe streams' callbacks (app_state has kProbeTag) ----

    template <class Loop>
    void on_connected(Loop& loop, ws::ConnectionHandle h, uint64_t app_state) {
        Probe* p = probe_of(app_state, h);
        if (p == nullptr) return;
        loop.send_stream(h,
                         {reinterpret_cast<const uint8_t*>(p->request.data()), p->request.size()});
    }

    template <class Loop>
    size_t on_data(Loop& loop, ws::ConnectionHandle h, uint64_t app_state,
                   std::span<const uint8_t> bytes) {
        Probe* p = probe_of(app_state, h);
        if (p == nullptr) return bytes.size();
        size_t take = std::min(bytes.size(), sizeof(p->line) - p->got);
        std::memcpy(p->line + p->got, bytes.data(), take);
        p->got += static_cast<uint32_t>(take);
        int status = parse_status_line({p->line, p->got});
        if (status == 0 && p->got < sizeof(p->line)) return bytes.size();
        loop.finish_stream(h);
        if (status > 0) {
            char result[32];
            std::snprintf(result, sizeof(result), "status %d", status);
            finish(*p, check_passes(status), result);
        } else {
            finish(*p, false, "not an HTTP status line");
        }
        return bytes.size();
    }

    template <class Loop>
    void on_end(Loop&, ws::ConnectionHandle h, uint64_t app_state, int error) {
        Probe* p = probe_of(app_state, h);
        if (p == nullptr) return;
        p->handle = {};
        if (error == -ESHUTDOWN) {
            stopping_ = true;
            p->in_flight = false;
            return;
        }
        finish(*p, false, error == 0 ? "closed before the status line" : std::strerror(-error));
    }

    // After each loop turn: starts the checks that are due, fails those past
    // their timeout, logs servers back from a passive time out.
    template <class Loop>
    void on_turn_end(Loop& loop, int64_t now_ms) {
        if (stopping_) return;
        if (base_ms_ == kUnset) base_ms_ = monotonic_ms() - now_ms;
        const int64_t now = now_ms + base_ms_;
        for (uint32_t i = 0; i < probes_.size(); ++i) {
            Probe& p = probes_[i];
            const HealthCheckSpec& spec = *table_->pools()[p.pool].check;
            if (p.in_flight) {
                if (now >= p.deadline_ms) {
                    loop.finish_stream(p.handle);
                    p.handle = {};
                    char result[48];
                    std::snprintf(result, sizeof(result), "no status line within %g s",
                                  static_cast<double>(spec.timeout_ms) / 1000.0);
                    finish(p, false, result);
                }
                continue;
            }
            if (now < p.due_ms) continue;
            start(loop, i, p, spec, now);
            if (stopping_) return;
        }
        if (now >= next_return_ms_) {
            next_return_ms_ = INT64_MAX;
            for (const Owned& o : owned_) {
                ServerLive& s = live_->server(o.pool, o.server);
                if (live_->passive_return(s, now) == HealthChange::up) {
                    const UpstreamPool& pool = table_->pools()[o.pool];
                    log_passive_return(pool, pool.servers[o.server], live_->passive());
                }
            }
        }
    }

    // Milliseconds until on_turn_end has work (-1: none).
    int ms_until_due(int64_t now_ms) {
        if (stopping_ || base_ms_ == kUnset) return probes_.empty() && owned_.empty() ? -1 : 0;
        const int64_t now = now_ms + base_ms_;
        int64_t due = INT64_MAX;
        for (const Probe& p : probes_)
            due = std::min(due, p.in_flight ? p.deadline_ms : p.due_ms);
        for (const Owned& o : owned_) {
            const ServerLive& s = live_->server(o.pool, o.server);
            if (s.passive_out.load(std::memory_order_relaxed)) {
                int64_t until = s.out_until_ms.load(std::memory_order_relaxed);
                due = std::min(due, until);
                next_return_ms_ = std::min(next_return_ms_, until);
            }
        }
        if (due == INT64_MAX) return -1;
        return static_cast<int>(std::clamp<int64_t>(due - now, 0, 3600 * 1000));
    }

    size_t probes() const { return probes_.size(); }

    // Ends the checks in flight (a reload replaces this prober): their
    // streams' callbacks then find no probe of theirs.
    template <class Loop>
    void stop(Loop& loop) {
        for (Probe& p : probes_) {
            if (p.in_flight && !p.handle.empty()) loop.finish_stream(p.handle);
            p.in_flight = false;
            p.handle = {};
        }
    }

  private:
    static constexpr int64_t kUnset = INT64_MIN;

    struct Probe {
        uint32_t pool = 0, server = 0;
        std::string request;
        ws::ConnectionHandle handle;
        int64_t due_ms = 0;                 // the next check starts then
        int64_t deadline_ms = 0;            // the check in flight fails then
        uint32_t passes = 0, failures = 0;  // in a row
        uint32_t got = 0;
        uint8_t line[64];  // the start of the answer: enough for a status line
        bool in_flight = false;
    };
    struct Owned {
        uint32_t pool, server;
    };

    Probe* probe_of(uint64_t app_state, ws::ConnectionHandle h) {
        uint64_t i = app_state & ~kProbeTag;
        if (i >= probes_.size() || !probes_[i].in_flight || probes_[i].handle != h) return nullptr;
        return &probes_[i];
    }

    template <class Loop>
    void start(Loop& loop, uint32_t index, Probe& p, const HealthCheckSpec& spec, int64_t now) {
        const UpstreamServer& server = table_->pools()[p.pool].servers[p.server];
        p.due_ms = now + spec.interval_ms;
        p.deadline_ms = now + spec.timeout_ms;
        p.got = 0;
        int error = 0;
        ws::ConnectionHandle h =
            loop.connect(reinterpret_cast<const sockaddr*>(&server.endpoint.addr),
                         server.endpoint.len, spec.timeout_ms, &error);
        if (h.empty()) {
            if (error == -ESHUTDOWN) {
                stopping_ = true;
                return;
            }
            if (local_error(error)) return;  // says nothing of the server: next interval
            p.in_flight = true;              // finish() ends it
            finish(p, false, std::strerror(-error));
            return;
        }
        *loop.app_state(h) = kProbeTag | index;
        p.handle = h;
        p.in_flight = true;
    }

    void finish(Probe& p, bool passed, const char* result) {
        if (!p.in_flight) return;
        p.in_flight = false;
        p.handle = {};
        ServerLive& s = live_->server(p.pool, p.server);
        const UpstreamPool& pool = table_->pools()[p.pool];
        const HealthCheckSpec& spec = *pool.check;
        (passed ? s.checks_passed : s.checks_failed).fetch_add(1, std::memory_order_relaxed);
        HealthChange change = HealthChange::none;
        uint32_t streak = 0;
        if (passed) {
            p.failures = 0;
            streak = ++p.passes;
            if (p.passes >= spec.rise) change = live_->set_check_verdict(s, true, monotonic_ms());
        } else {
            p.passes = 0;
            streak = ++p.failures;
            if (p.failures >= spec.fall)
                change = live_->set_check_verdict(s, false, monotonic_ms());
        }
        if (change != HealthChange::none) {
            log_check_change(pool, pool.servers[p.server], change, streak, result,
                             live_->passive());
        }
    }

    const RouteTable* table_;
    const UpstreamLive* live_;
    std::vector<Probe> probes_;
    std::vector<Owned> owned_;  // servers whose passive return this loop logs
    int64_t base_ms_ = kUnset;  // monotonic_ms() - the loop's clock
    int64_t next_return_ms_ = 0;
    bool stopping_ = false;
};

}  // namespace wsgate::proxy
