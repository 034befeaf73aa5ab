#include "gateway/reload_policy.hpp"

#include <algorithm>
#include <span>

#include "gateway/config_settings.hpp"

namespace wsgate::gateway {

namespace {

// A key a reload applies live: how its value moves from the new
// configuration into the effective one, and when a new value still needs a
// restart (a table sized at start-up): "" or the reason.
struct LiveKey {
    std::string_view name;
    void (*copy)(const Config& from, Config* to);
    std::string (*restart_reason)(const Config& started, const Config& next) = nullptr;
};

std::string above_start(uint64_t started, uint64_t next, std::string_view what) {
    if (next <= started) return {};
    return "above the start-up value " + std::to_string(started) + " (" + std::string(what) +
           " is sized at start-up)";
}

// Every loop reads these at the next admission, frame header, queue check or
// timer (ws::ServerLoop::adopt_settings).
constexpr LiveKey kLiveKeys[] = {
    {"max-message-bytes",
     [](const Config& f, Config* t) { t->max_message_bytes = f.max_message_bytes; }},
    {"max-connections", [](const Config& f, Config* t) { t->max_connections = f.max_connections; },
     [](const Config& s, const Config& n) {
         return above_start(s.max_connections, n.max_connections, "each loop's connection table");
     }},
    {"idle-timeout", [](const Config& f, Config* t) { t->idle_timeout_s = f.idle_timeout_s; }},
    {"handshake-timeout",
     [](const Config& f, Config* t) { t->handshake_timeout_s = f.handshake_timeout_s; }},
    {"max-handshakes", [](const Config& f, Config* t) { t->max_handshakes = f.max_handshakes; },
     [](const Config& s, const Config& n) {
         return above_start(resolved_max_handshakes(s), resolved_max_handshakes(n),
                            "each loop's per-address table");
     }},
    {"max-handshakes-per-ip",
     [](const Config& f, Config* t) { t->max_handshakes_per_ip = f.max_handshakes_per_ip; }},
    {"busy-handshake-timeout",
     [](const Config& f, Config* t) { t->busy_handshake_timeout_s = f.busy_handshake_timeout_s; }},
    {"close-timeout", [](const Config& f, Config* t) { t->close_timeout_s = f.close_timeout_s; }},
    {"drain-timeout", [](const Config& f, Config* t) { t->drain_timeout_s = f.drain_timeout_s; }},
    {"memory-release-delay",
     [](const Config& f, Config* t) { t->memory_release_delay_s = f.memory_release_delay_s; }},
    {"max-request-bytes",
     [](const Config& f, Config* t) { t->max_request_bytes = f.max_request_bytes; }},
    {"max-queued-bytes",
     [](const Config& f, Config* t) { t->max_queued_bytes = f.max_queued_bytes; }},
    {"zero-copy-min-bytes",
     [](const Config& f, Config* t) { t->zero_copy_min_bytes = f.zero_copy_min_bytes; }},
    {"trace", [](const Config& f, Config* t) { t->trace = f.trace; }},
    // Process-wide (io::set_log_level), set by the reloader once the
    // snapshot is out.
    {"log-level", [](const Config& f, Config* t) { t->log_level = f.log_level; }},
    // --mode pubsub: every hub loop reads these at the next command
    // (pubsub::HubApp::on_settings).
    {"api-key", [](const Config& f, Config* t) { t->hub.api_key = f.hub.api_key; }},
    {"token-hmac-secret",
     [](const Config& f, Config* t) { t->hub.token_hmac_secret = f.hub.token_hmac_secret; }},
    {"allow-client-publish",
     [](const Config& f, Config* t) { t->hub.allow_client_publish = f.hub.allow_client_publish; }},
    {"allow-anonymous",
     [](const Config& f, Config* t) { t->hub.allow_anonymous = f.hub.allow_anonymous; }},
    {"ping-interval",
     [](const Config& f, Config* t) { t->hub.ping_interval_s = f.hub.ping_interval_s; }},
    {"max-channels-per-connection",
     [](const Config& f, Config* t) {
         t->hub.max_channels_per_connection = f.hub.max_channels_per_connection;
     }},
    {"max-channels", [](const Config& f, Config* t) { t->hub.max_channels = f.hub.max_channels; }},
    // Channel namespaces and the default namespace's history: each home
    // loop applies the new limits to its streams when it adopts the
    // snapshot (HubApp::apply_history_limits).
    {"namespace", [](const Config& f, Config* t) { t->hub.namespaces = f.hub.namespaces; }},
    {"history-size", [](const Config& f, Config* t) { t->hub.history_size = f.hub.history_size; }},
    {"history-ttl", [](const Config& f, Config* t) { t->hub.history_ttl_s = f.hub.history_ttl_s; }},
    // Admission (ws::EdgeLimits, part of the loop's snapshot): checked at the
    // next upgrade request or request head.
    {"allow-origin", [](const Config& f, Config* t) { t->allow_origins = f.allow_origins; }},
    {"max-request-head-bytes",
     [](const Config& f, Config* t) { t->max_request_head_bytes = f.max_request_head_bytes; }},
    {"max-request-headers",
     [](const Config& f, Config* t) { t->max_request_headers = f.max_request_headers; }},
    // Per-connection rates (ws::MessageRateLimit::update): every open
    // connection starts the next second's budget at the new rates.
    {"max-messages-per-second",
     [](const Config& f, Config* t) { t->max_messages_per_second = f.max_messages_per_second; }},
    {"message-burst", [](const Config& f, Config* t) { t->message_burst = f.message_burst; }},
    {"max-bytes-per-second",
     [](const Config& f, Config* t) { t->max_bytes_per_second = f.max_bytes_per_second; }},
    {"byte-burst", [](const Config& f, Config* t) { t->byte_burst = f.byte_burst; }},
    // --mode proxy routing (gateway::ProxyRoutesReload builds the next
    // proxy::ProxyTable, which comes with the snapshot): new connections
    // are routed by it, open ones keep relaying where they are.
    {"upstream", [](const Config& f, Config* t) { t->upstreams = f.upstreams; }},
    {"route", [](const Config& f, Config* t) { t->routes = f.routes; }},
    {"balance", [](const Config& f, Config* t) { t->balances = f.balances; }},
    {"health-check", [](const Config& f, Config* t) { t->health_checks = f.health_checks; }},
    {"hash-balance-factor",
     [](const Config& f, Config* t) { t->hash_balance_factor = f.hash_balance_factor; }},
    {"upstream-max-fails",
     [](const Config& f, Config* t) { t->passive_health.max_fails = f.passive_health.max_fails; }},
    {"upstream-fail-timeout",
     [](const Config& f, Config* t) {
         t->passive_health.fail_timeout_ms = f.passive_health.fail_timeout_ms;
     }},
    {"upstream-slow-start",
     [](const Config& f, Config* t) {
         t->passive_health.slow_start_ms = f.passive_health.slow_start_ms;
     }},
    // Proxy timing (proxy::ProxyReload, with the snapshot): connects started
    // and pings scheduled after the reload use the new values.
    {"upstream-connect-timeout",
     [](const Config& f, Config* t) {
         t->upstream_connect_timeout_s = f.upstream_connect_timeout_s;
     }},
    {"upstream-ping-interval",
     [](const Config& f, Config* t) { t->upstream_ping_interval_s = f.upstream_ping_interval_s; }},
    // Per-address admission (ws::PeerAdmission, shared by the loops; the
    // reload hook gateway::PeerLimitsReload): the next accepted connection
    // is admitted by these; open connections stay counted.
    {"max-connections-per-ip",
     [](const Config& f, Config* t) { t->max_connections_per_ip = f.max_connections_per_ip; }},
    {"connection-rate-per-ip",
     [](const Config& f, Config* t) { t->connection_rate_per_ip = f.connection_rate_per_ip; }},
    {"connection-burst-per-ip",
     [](const Config& f, Config* t) { t->connection_burst_per_ip = f.connection_burst_per_ip; }},
    {"ipv6-prefix-length",
     [](const Config& f, Config* t) { t->ipv6_prefix_length = f.ipv6_prefix_length; }},
};

const LiveKey* find_live(std::string_view name) {
    for (const LiveKey& k : kLiveKeys) {
        if (k.name == name) return &k;
    }
    return nullptr;
}

}  // namespace

bool is_live_key(std::string_view key) {
    return find_live(key) != nullptr;
}

ReloadPlan plan_reload(const Config& started, const Config& running, const Config& next) {
    ReloadPlan plan;
    plan.effective = running;
    for (const Setting& s : settings()) {
        if (s.type == SettingType::command_line) continue;
        if (s.get(running) == s.get(next)) continue;
        const LiveKey* live = find_live(s.name);
        if (live == nullptr) {
            plan.restart.push_back(std::string(s.name) + ": needs a restart");
            continue;
        }
        std::string reason = live->restart_reason ? live->restart_reason(started, next) : "";
        if (!reason.empty()) {
            plan.restart.push_back(std::string(s.name) + ": " + reason);
            continue;
        }
        live->copy(next, &plan.effective);
        plan.applied.emplace_back(s.name);
    }
    return plan;
}

std::string describe_reload_policy() {
    std::string live = "# live on reload (SIGHUP, POST /admin/reload):";
    std::string restart = "# need a restart:";
    for (const Setting& s : settings()) {
        if (s.type == SettingType::command_line) continue;
        std::string& line = is_live_key(s.name) ? live : restart;
        line += ' ';
        line += s.name;
    }
    return live + "\n" + restart + "\n";
}

}  // namespace wsgate::gateway
