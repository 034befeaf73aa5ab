// GET /metrics on the admin listener: every loop's LoopMetrics summed (or
// labelled by loop where a per-loop value matters: backend, receive
// buffers, turn durations), the pub/sub hub's counters, and the process's
// resident memory, open descriptors and start time (from /proc), reloads
// and log lines suppressed by the rate limits.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/route_table.hpp"
#include "proxy/upstream_live.hpp"
#include "pubsub/hub_shared.hpp"
#include "ws/loop_metrics.hpp"

namespace wsgate::gateway {

// The loops' metrics, each attached by its loop thread for as long as its
// loop exists. The scraper reads them under the mutex, which a loop takes
// only to attach and detach (never per event).
class LoopMetricsRegistry {
  public:
    explicit LoopMetricsRegistry(size_t loops) : loops_(loops, nullptr) {}

    void attach(size_t loop, const ws::LoopMetrics* metrics) {
        std::lock_guard<std::mutex> hold(mutex_);
        loops_[loop] = metrics;
    }
    void detach(size_t loop) { attach(loop, nullptr); }

    // f(loop number, metrics) for each loop attached now.
    template <class F>
    void for_each(F&& f) const {
        std::lock_guard<std::mutex> hold(mutex_);
        for (size_t i = 0; i < loops_.size(); ++i) {
            if (loops_[i] != nullptr) f(i, *loops_[i]);
        }
    }

  private:
    mutable std::mutex mutex_;
    std::vector<const ws::LoopMetrics*> loops_;
};

struct MetricsSources {
    const LoopMetricsRegistry* loops = nullptr;
    const pubsub::HubShared* hub = nullptr;  // --mode pubsub only
    bool ready = false;
    // Each listening address, by its index in every loop's listener list.
    const std::vector<std::string>* listeners = nullptr;
    // --mode proxy only: its upstream servers.
    const proxy::RouteTable* proxy_routes = nullptr;
    const proxy::UpstreamLive* proxy_live = nullptr;
    // Reloads since start (gateway::Reloader).
    uint64_t reloads_ok = 0;
    uint64_t reloads_failed = 0;
};

// The exposition (Prometheus text format 0.0.4).
std::string render_metrics(const MetricsSources& sources);

// Resident set size of this process in bytes, and its open descriptors
// (-1 when /proc is not readable).
int64_t process_rss_bytes();
int64_t process_open_fds();
// When this process started, in seconds since the Unix epoch (from
// /proc/self/stat and the boot time in /proc/stat; -1 when unreadable).
double process_start_time_seconds();

}  // namespace wsgate::gateway
