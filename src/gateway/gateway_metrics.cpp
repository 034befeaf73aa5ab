#include "gateway/gateway_metrics.hpp"

#include <dirent.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "gateway/prometheus_text.hpp"
#include "gateway/proxy_metrics.hpp"
#include "io/log.hpp"

namespace wsgate::gateway {
namespace {

constexpr uint64_t kNsPerSecond = 1000000000;

// Sums one value over the attached loops.
template <class Get>
auto sum_loops(const LoopMetricsRegistry& loops, Get get) {
    decltype(get(std::declval<const ws::LoopMetrics&>())) total = 0;
    loops.for_each([&](size_t, const ws::LoopMetrics& m) { total += get(m); });
    return total;
}

void connection_metrics(PrometheusText& out, const LoopMetricsRegistry& loops) {
    out.family("wsgate_loop_info", "Event loops: one sample per loop, with its I/O backend.",
               "gauge");
    loops.for_each([&](size_t i, const ws::LoopMetrics& m) {
        std::string loop = std::to_string(i);
        out.sample("wsgate_loop_info", {{"loop", loop}, {"backend", m.backend}}, uint64_t{1});
    });
    out.family("wsgate_connections",
               "Connections open now by state: handshaking (reading a request head, also "
               "between keep-alive requests), http (a plain request awaiting its answer), "
               "websocket, closing.",
               "gauge");
    for (size_t p = 0; p < ws::kConnPhases; ++p) {
        int64_t n =
            sum_loops(loops, [p](const ws::LoopMetrics& m) { return m.connections[p].get(); });
        out.sample("wsgate_connections", {{"state", ws::kConnPhaseNames[p]}}, n);
    }
    out.family("wsgate_connections_accepted_total", "TCP connections accepted.", "counter");
    out.sample("wsgate_connections_accepted_total", {},
               sum_loops(loops, [](const ws::LoopMetrics& m) { return m.accepted.get(); }));

    out.family("wsgate_handshakes_total",
               "Request heads answered by the server itself, by HTTP status: 101 (WebSocket "
               "upgrade) and every refusal (4xx/5xx).",
               "counter");
    out.sample("wsgate_handshakes_total", {{"status", "101"}},
               sum_loops(loops, [](const ws::LoopMetrics& m) { return m.upgrades.get(); }));
    for (size_t s = 0; s < ws::LoopMetrics::kRefusalStatuses; ++s) {
        uint64_t n =
            sum_loops(loops, [s](const ws::LoopMetrics& m) { return m.refusals[s].get(); });
        if (n == 0) continue;
        std::string status = std::to_string(ws::LoopMetrics::kFirstRefusalStatus + s);
        out.sample("wsgate_handshakes_total", {{"status", status}}, n);
    }
}

// By listening address; outbound connections (proxy upstreams) apart.
void listener_metrics(PrometheusText& out, const LoopMetricsRegistry& loops,
                      const std::vector<std::string>& listeners) {
    std::vector<std::pair<std::string, uint8_t>> slots;
    for (size_t i = 0; i < listeners.size(); ++i) {
        uint8_t slot = ws::LoopMetrics::listener_slot(static_cast<uint32_t>(i));
        if (slot == ws::LoopMetrics::kOtherListenersSlot) {
            slots.emplace_back("other", slot);
            break;
        }
        slots.emplace_back(listeners[i], slot);
    }
    slots.emplace_back("outbound", ws::LoopMetrics::kOutboundSlot);
    out.family("wsgate_listener_connections",
               "Connections open now by the address they were accepted on (outbound: "
               "connections the server opened, e.g. to proxy upstreams).",
               "gauge");
    // (A structured binding cannot be captured before clang 16: copy it.)
    for (const auto& entry : slots) {
        const size_t slot = entry.second;
        int64_t n = sum_loops(
            loops, [slot](const ws::LoopMetrics& m) { return m.by_listener[slot].open.get(); });
        out.sample("wsgate_listener_connections", {{"listener", entry.first}}, n);
    }
    out.family("wsgate_listener_accepted_total",
               "Connections accepted by listening address (outbound: opened by the server).",
               "counter");
    for (const auto& entry : slots) {
        const size_t slot = entry.second;
        uint64_t n = sum_loops(
            loops, [slot](const ws::LoopMetrics& m) { return m.by_listener[slot].accepted.get(); });
        out.sample("wsgate_listener_accepted_total", {{"listener", entry.first}}, n);
    }
}

void message_metrics(PrometheusText& out, const LoopMetricsRegistry& loops) {
    struct Family {
        const char* name;
        const char* help;
        bool in;
        bool bytes;
    };
    static constexpr std::array<Family, 4> kFamilies = {{
        {"wsgate_messages_received_total",
         "WebSocket messages received by opcode: data messages (text, binary) and control "
         "frames (ping, pong, close).",
         true, false},
        {"wsgate_message_bytes_received_total",
         "Payload bytes of received messages by opcode, as on the wire (compressed or not).", true,
         true},
        {"wsgate_messages_sent_total",
         "WebSocket messages queued for sending by opcode (text, binary, ping, pong, close).",
         false, false},
        {"wsgate_message_bytes_sent_total",
         "Payload bytes of messages queued for sending by opcode (before compression).", false,
         true},
    }};
    for (const Family& f : kFamilies) {
        out.family(f.name, f.help, "counter");
        for (size_t k = 0; k < ws::kMessageKinds; ++k) {
            uint64_t n = sum_loops(loops, [&](const ws::LoopMetrics& m) {
                const ws::MessageCounts& c = f.in ? m.in : m.out;
                return (f.bytes ? c.bytes[k] : c.messages[k]).get();
            });
            out.sample(f.name, {{"kind", ws::kMessageKindNames[k]}}, n);
        }
    }
    for (bool received : {true, false}) {
        const char* name =
            received ? "wsgate_close_codes_received_total" : "wsgate_close_codes_sent_total";
        out.family(name,
                   received ? "Close frames received by status code (RFC 6455 §7.4; 1005: none "
                              "given; codes outside the known set: other)."
                            : "Close frames sent by status code (1005: sent without a code).",
                   "counter");
        for (size_t s = 0; s < ws::CloseCodeCounts::kSlots; ++s) {
            uint64_t n = sum_loops(loops, [&](const ws::LoopMetrics& m) {
                return (received ? m.close_received : m.close_sent).get(s);
            });
            uint16_t code = ws::CloseCodeCounts::code_of(s);
            std::string label = code == 0 ? "other" : std::to_string(code);
            out.sample(name, {{"code", label}}, n);
        }
    }
}

void edge_limit_metrics(PrometheusText& out, const LoopMetricsRegistry& loops) {
    out.family("wsgate_limit_refusals_total",
               "Connections refused or closed by an admission limit: origin (403), ip_connections "
               "and ip_connection_rate (429), message_rate and byte_rate (close 1008).",
               "counter");
    for (size_t k = 0; k < ws::kEdgeLimits; ++k) {
        uint64_t n =
            sum_loops(loops, [k](const ws::LoopMetrics& m) { return m.edge_refusals[k].get(); });
        out.sample("wsgate_limit_refusals_total", {{"limit", ws::kEdgeLimitNames[k]}}, n);
    }
}

void tls_metrics(PrometheusText& out, const LoopMetricsRegistry& loops) {
    out.family("wsgate_tls_handshakes_total",
               "TLS handshakes completed on TLS listeners, by kind: full, or resumed (a session "
               "ticket).",
               "counter");
    uint64_t all =
        sum_loops(loops, [](const ws::LoopMetrics& m) { return m.tls_handshakes.get(); });
    uint64_t resumed =
        sum_loops(loops, [](const ws::LoopMetrics& m) { return m.tls_resumed.get(); });
    out.sample("wsgate_tls_handshakes_total", {{"kind", "full"}}, all - resumed);
    out.sample("wsgate_tls_handshakes_total", {{"kind", "resumed"}}, resumed);
    out.family("wsgate_tls_failures_total",
               "TLS connections closed for a TLS failure: a bad or unfinished handshake, a bad "
               "record, a renegotiation attempt.",
               "counter");
    out.sample("wsgate_tls_failures_total", {},
               sum_loops(loops, [](const ws::LoopMetrics& m) { return m.tls_failures.get(); }));
    out.family("wsgate_tls_kernel_total",
               "TLS connections whose established session went to the kernel (kTLS: the kernel "
               "encrypts, the SSL object is freed), or that stayed in user space because the "
               "kernel refused the keys or the session never reached a record boundary.",
               "counter");
    out.sample("wsgate_tls_kernel_total", {{"outcome", "switched"}},
               sum_loops(loops, [](const ws::LoopMetrics& m) { return m.tls_kernel.get(); }));
    out.sample(
        "wsgate_tls_kernel_total", {{"outcome", "user_space"}},
        sum_loops(loops, [](const ws::LoopMetrics& m) { return m.tls_kernel_refused.get(); }));
}

void flow_metrics(PrometheusText& out, const LoopMetricsRegistry& loops) {
    tls_metrics(out, loops);
    out.family("wsgate_backpressure_pauses_total",
               "Times reading from a connection paused because its queued output went over "
               "--max-queued-bytes.",
               "counter");
    out.sample(
        "wsgate_backpressure_pauses_total", {},
        sum_loops(loops, [](const ws::LoopMetrics& m) { return m.backpressure_pauses.get(); }));
    out.family("wsgate_parked_input_bytes",
               "Received bytes waiting unprocessed while their connection's output is over the "
               "cap (as of each loop's last turn).",
               "gauge");
    out.sample("wsgate_parked_input_bytes", {}, sum_loops(loops, [](const ws::LoopMetrics& m) {
                   return m.parked_input_bytes.get();
               }));
    out.family("wsgate_receive_buffers",
               "io_uring provided receive buffers per loop: held (out of the ring: partial "
               "messages, lent) and lent (sent from without a copy). Zero on epoll.",
               "gauge");
    loops.for_each([&](size_t i, const ws::LoopMetrics& m) {
        std::string loop = std::to_string(i);
        out.sample("wsgate_receive_buffers", {{"loop", loop}, {"use", "held"}},
                   m.held_receive_buffers.get());
        out.sample("wsgate_receive_buffers", {{"loop", loop}, {"use", "lent"}},
                   m.lent_receive_buffers.get());
    });
    out.family("wsgate_settings_generation",
               "The settings snapshot each loop runs: 1 from start-up, one more per successful "
               "reload (SIGHUP, POST /admin/reload) once the loop has adopted it.",
               "gauge");
    loops.for_each([&](size_t i, const ws::LoopMetrics& m) {
        out.sample("wsgate_settings_generation", {{"loop", std::to_string(i)}},
                   m.settings_generation.get());
    });
    out.family("wsgate_loop_turn_duration_seconds",
               "Busy time of each loop turn (from the end of its wait for events to the end of "
               "its work): how long an event arriving meanwhile waits (loop lag).",
               "histogram");
    std::array<double, ws::TurnHistogram::kBoundsUs.size()> bounds;
    for (size_t b = 0; b < bounds.size(); ++b)
        bounds[b] = static_cast<double>(ws::TurnHistogram::kBoundsUs[b]) / 1e6;
    loops.for_each([&](size_t i, const ws::LoopMetrics& m) {
        std::array<uint64_t, ws::TurnHistogram::kBuckets> counts;
        for (size_t b = 0; b < counts.size(); ++b)
            counts[b] = m.turns.bucket(b);
        std::string loop = std::to_string(i);
        out.histogram("wsgate_loop_turn_duration_seconds", {{"loop", loop}}, bounds, counts,
                      static_cast<double>(m.turns.sum_ns()) / kNsPerSecond);
    });
}

void hub_metrics(PrometheusText& out, const pubsub::HubShared& hub) {
    auto counter = [&](const char* name, const char* help, const std::atomic<uint64_t>& v) {
        out.family(name, help, "counter");
        out.sample(name, {}, v.load(std::memory_order_relaxed));
    };
    auto gauge = [&](const char* name, const char* help, const std::atomic<uint64_t>& v) {
        out.family(name, help, "gauge");
        out.sample(name, {}, v.load(std::memory_order_relaxed));
    };
    counter("wsgate_pubsub_publications_total", "Publications assigned an offset by their channel.",
            hub.counters.publications);
    counter("wsgate_pubsub_deliveries_total", "Publication pushes queued on subscribers.",
            hub.counters.deliveries);
    counter("wsgate_pubsub_slow_disconnects_total",
            "Subscribers closed with 3008 (queued output over --max-queued-bytes).",
            hub.counters.slow_disconnects);
    counter("wsgate_pubsub_no_pong_disconnects_total", "Clients closed with 3012 (no pong).",
            hub.counters.no_pong_disconnects);
    counter("wsgate_pubsub_bad_request_disconnects_total", "Clients closed with 3501.",
            hub.counters.bad_requests);
    gauge("wsgate_pubsub_channels", "Channels alive on this node.", hub.channels);
    gauge("wsgate_pubsub_clients", "Clients connected (after their connect command).", hub.clients);
    gauge("wsgate_pubsub_subscriptions",
          "Subscriptions of connected clients to channels (pending or active).", hub.subscriptions);
    if (!hub.settings.redis_engine) return;
    counter("wsgate_redis_gap_recovered_total",
            "Publications a home delivered from Redis's stream after a gap (link lost, message "
            "missed).",
            hub.counters.redis_gap_recovered);
    counter("wsgate_redis_insufficient_state_total",
            "Gaps history could not cover: the channel's subscribers were closed 3010.",
            hub.counters.redis_insufficient_state);
    counter("wsgate_redis_publish_failed_total",
            "Publishes refused because the channel's Redis link was down or timed out (108).",
            hub.counters.redis_publish_failed);
    out.family("wsgate_redis_links_down", "Redis links (all loops, all shards) not up now.",
               "gauge");
    out.sample("wsgate_redis_links_down", {},
               static_cast<uint64_t>(std::max<int64_t>(0, hub.redis_links_down.load())));
}

}  // namespace

int64_t process_rss_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (f == nullptr) return -1;
    long long size = 0, resident = 0;
    int got = std::fscanf(f, "%lld %lld", &size, &resident);
    std::fclose(f);
    if (got != 2) return -1;
    return resident * sysconf(_SC_PAGESIZE);
}

int64_t process_open_fds() {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return -1;
    int64_t n = 0;
    while (dirent* e = readdir(dir)) {
        if (e->d_name[0] != '.') ++n;
    }
    closedir(dir);
    return n - 1;  // the directory's own descriptor
}

double process_start_time_seconds() {
    // Field 22 of /proc/self/stat: start time in clock ticks after boot
    // (proc(5)); the command name (field 2) may hold spaces: skip past ')'.
    std::FILE* f = std::fopen("/proc/self/stat", "r");
    if (f == nullptr) return -1;
    char buf[1024];
    size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    const char* p = std::strrchr(buf, ')');
    if (p == nullptr) return -1;
    unsigned long long ticks = 0;
    // After ')': state (3), then fields 4..21, then starttime (22).
    if (std::sscanf(p + 1,
                    " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
                    "%*d %llu",
                    &ticks) != 1) {
        return -1;
    }
    f = std::fopen("/proc/stat", "r");
    if (f == nullptr) return -1;
    long long boot = -1;
    char line[256];
    while (std::fgets(line, sizeof(line), f) != nullptr) {
        if (std::sscanf(line, "btime %lld", &boot) == 1) break;
    }
    std::fclose(f);
    if (boot < 0) return -1;
    return static_cast<double>(boot) +
           static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string render_metrics(const MetricsSources& sources) {
    PrometheusText out;
    if (sources.loops != nullptr) {
        connection_metrics(out, *sources.loops);
        if (sources.listeners != nullptr) listener_metrics(out, *sources.loops, *sources.listeners);
        message_metrics(out, *sources.loops);
        flow_metrics(out, *sources.loops);
        edge_limit_metrics(out, *sources.loops);
    }
    if (sources.hub != nullptr) hub_metrics(out, *sources.hub);
    if (sources.proxy_routes != nullptr && sources.proxy_live != nullptr) {
        proxy_metrics(out, *sources.proxy_routes, *sources.proxy_live);
    }
    out.family("wsgate_ready", "1 while the listeners are up and the server is not shutting down.",
               "gauge");
    out.sample("wsgate_ready", {}, uint64_t{sources.ready ? 1u : 0u});
    out.family("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge");
    out.sample("process_resident_memory_bytes", {}, process_rss_bytes());
    out.family("process_open_fds", "Number of open file descriptors.", "gauge");
    out.sample("process_open_fds", {}, process_open_fds());
    out.family("process_start_time_seconds",
               "Start time of the process since unix epoch in seconds.", "gauge");
    out.sample("process_start_time_seconds", {}, process_start_time_seconds());
    out.family("wsgate_reloads_total",
               "Configuration reloads (SIGHUP, POST /admin/reload): ok, or failed/refused (nothing "
               "changed).",
               "counter");
    out.sample("wsgate_reloads_total", {{"result", "ok"}}, sources.reloads_ok);
    out.sample("wsgate_reloads_total", {{"result", "failed"}}, sources.reloads_failed);
    out.family("wsgate_log_lines_suppressed_total",
               "Log lines not written because of a rate limit (counted in their summary lines).",
               "counter");
    out.sample("wsgate_log_lines_suppressed_total", {}, io::log_lines_suppressed());
    return out.text();
}

}  // namespace wsgate::gateway
