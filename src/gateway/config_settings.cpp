#include "gateway/config_settings.hpp"
#include "gateway/edit_distance.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gateway/edge_config.hpp"
#include "gateway/namespace_config.hpp"
#include "io/listener.hpp"

namespace wsgate::gateway {

namespace {

constexpr double kMaxSeconds = 86400.0 * 365;
constexpr uint64_t kMaxThreads = 1024;
constexpr uint64_t kMaxWorkers = 256;
constexpr uint64_t kMaxHistorySize = 1000000;
constexpr uint64_t kMaxHistoryTtlSeconds = 365 * 86400;
constexpr uint64_t kMaxPingIntervalSeconds = 3600;
constexpr uint64_t kMaxConnections = UINT32_MAX / 2;
constexpr uint64_t kMaxRecvBuffers = 32768;
constexpr uint64_t kMinRecvBufferBytes = 256;
constexpr uint64_t kMaxRecvBufferBytes = 1u << 20;
constexpr uint64_t kMaxDeflateLevel = 9;  // zlib's levels are 0..9
constexpr uint64_t kMaxMemLevel = 9;      // zlib's MAX_MEM_LEVEL
constexpr std::string_view kAuto = "auto";
constexpr uint64_t kMinRequestHeadBytes = 256;
constexpr uint64_t kMaxRequestHeadBytes = 8192;  // ws::kHandshakeBufferBytes
constexpr uint64_t kMaxRequestHeaders = 64;      // proto::kMaxHttpHeaders
constexpr uint64_t kMaxRate32 = UINT32_MAX / 2;
constexpr uint64_t kMaxRate64 = uint64_t{1} << 40;  // token buckets count in thousandths

bool parse_u64(std::string_view s, uint64_t* out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

template <class T>
bool set_uint(std::string_view text, uint64_t lo, uint64_t hi, T* out) {
    uint64_t n = 0;
    if (!parse_u64(text, &n) || n < lo || n > hi) return false;
    *out = static_cast<T>(n);
    return true;
}

// "auto" is stored as 0, which the flag itself does not accept.
template <class T>
bool set_uint_or_auto(std::string_view text, uint64_t lo, uint64_t hi, T* out) {
    if (text == kAuto) {
        *out = 0;
        return true;
    }
    return set_uint(text, lo, hi, out);
}

bool set_seconds(std::string_view s, double* out) {
    std::string text(s);
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v) || v <= 0 ||
        v > kMaxSeconds) {
        return false;
    }
    *out = v;
    return true;
}

// A duration that may also be 0 ("off").
bool set_seconds_or_off(std::string_view s, double* out) {
    if (s == "0") {
        *out = 0;
        return true;
    }
    return set_seconds(s, out);
}

bool set_on_off(std::string_view text, bool* out) {
    if (text != "on" && text != "off") return false;
    *out = text == "on";
    return true;
}

bool set_toggle(std::string_view text, bool* out) {
    if (text != "true" && text != "false") return false;
    *out = text == "true";
    return true;
}

bool set_nonempty(std::string_view text, std::string* out) {
    if (text.empty()) return false;
    *out = text;
    return true;
}

bool set_nonempty_item(std::string_view text, std::vector<std::string>* out) {
    if (text.empty()) return false;
    out->emplace_back(text);
    return true;
}

std::string uint_text(uint64_t v) {
    return std::to_string(v);
}

std::string uint_or_auto_text(uint64_t v) {
    return v == 0 ? toml_quoted(kAuto) : std::to_string(v);
}

// Seconds (at least `min`, up to a day) held as milliseconds.
bool set_ms(std::string_view s, double min, uint32_t* out) {
    std::string text(s);
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v) || v < min ||
        v > 86400) {
        return false;
    }
    *out = static_cast<uint32_t>(std::llround(v * 1000));
    return true;
}

// The shortest text that reads back as the same double (std::to_chars).
std::string seconds_text(double v) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    return ec == std::errc() ? std::string(buf, end) : std::string("0");
}

std::string ms_text(uint32_t ms) {
    return seconds_text(static_cast<double>(ms) / 1000.0);
}

std::string on_off_text(bool v) {
    return toml_quoted(v ? "on" : "off");
}

std::string bool_text(bool v) {
    return v ? "true" : "false";
}

std::string optional_text(const std::string& v) {
    return v.empty() ? std::string() : toml_quoted(v);
}

std::string_view no_context_takeover_text(const proto::DeflateConfig& d) {
    if (d.server_no_context_takeover && d.client_no_context_takeover) return "both";
    if (d.server_no_context_takeover) return "server";
    if (d.client_no_context_takeover) return "client";
    return "none";
}

// An empty list is "not set" (a file's array must not be empty).
std::string optional_text_list(const std::vector<std::string>& items) {
    if (items.empty()) return {};
    std::string out = "[";
    for (size_t i = 0; i < items.size(); ++i) {
        if (i != 0) out += ", ";
        out += toml_quoted(items[i]);
    }
    return out + "]";
}

std::string_view mode_text(Mode mode) {
    switch (mode) {
        case Mode::echo:
            return "echo";
        case Mode::pubsub:
            return "pubsub";
        case Mode::proxy:
            return "proxy";
    }
    return "echo";
}

// command_line rows have no value to print.
std::string no_value(const Config&) {
    return {};
}

constexpr Setting kSettings[] = {
    {.name = "listen",
     .type = SettingType::text_list,
     .value_name = "ADDR:PORT",
     .help = "listen address, repeatable; IPv6 as [::1]:8080; ADDR:PORT,tls: TLS (https://, "
             "wss://; needs --tls-cert and --tls-key)",
     .set =
         [](std::string_view v, Config* c) {
             bool tls = false;
             if (!io::parse_endpoint(listen_address(v, &tls))) return false;
             c->listen.emplace_back(v);
             return true;
         },
     .get =
         [](const Config& c) {
             std::string out = "[";
             for (size_t i = 0; i < c.listen.size(); ++i) {
                 if (i != 0) out += ", ";
                 out += toml_quoted(c.listen[i]);
             }
             return out + "]";
         },
     .clear = [](Config* c) { c->listen.clear(); }},
    {.name = "admin-listen",
     .type = SettingType::text,
     .value_name = "ADDR:PORT",
     .help = "serve GET /metrics (Prometheus text format), /healthz (live) and /readyz (200 "
             "while listening and not shutting down, else 503) on this address, from a thread "
             "of its own (docs/metrics.md); not with --workers > 1",
     .default_note = "off",
     .set =
         [](std::string_view v, Config* c) {
             if (!io::parse_endpoint(v)) return false;
             c->admin_listen = v;
             return true;
         },
     .get = [](const Config& c) { return optional_text(c.admin_listen); }},
    {.name = "threads",
     .type = SettingType::integer_or_auto,
     .value_name = "N",
     .help = "event loops",
     .default_note = "auto: the number of cores",
     .set = [](std::string_view v,
               Config* c) { return set_uint_or_auto(v, 1, kMaxThreads, &c->threads); },
     .get = [](const Config& c) { return uint_or_auto_text(c.threads); }},
    {.name = "workers",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "processes sharing the port, each with --threads loops and its own "
             "--max-connections; a worker that dies is restarted, more than 5 restarts "
             "within 30 s stop them all (exit 1)",
     .set = [](std::string_view v, Config* c) { return set_uint(v, 1, kMaxWorkers, &c->workers); },
     .get = [](const Config& c) { return uint_text(c.workers); }},
    {.name = "backend",
     .type = SettingType::text,
     .value_name = "auto|io_uring|epoll",
     .help = "event backend; auto: io_uring, else epoll",
     .set = [](std::string_view v, Config* c) { return io::parse_backend_kind(v, &c->backend); },
     .get = [](const Config& c) { return toml_quoted(io::backend_name(c.backend)); }},
    {.name = "mode",
     .type = SettingType::text,
     .value_name = "echo|pubsub|proxy",
     .help = "application. pubsub: a hub speaking the Centrifugo client protocol (JSON) on "
             "/connection/websocket, see docs/pubsub.md; proxy: a reverse proxy to upstream "
             "WebSocket servers",
     .set =
         [](std::string_view v, Config* c) {
             if (v == "echo") {
                 c->mode = Mode::echo;
             } else if (v == "pubsub") {
                 c->mode = Mode::pubsub;
             } else if (v == "proxy") {
                 c->mode = Mode::proxy;
             } else {
                 return false;
             }
             return true;
         },
     .get = [](const Config& c) { return toml_quoted(mode_text(c.mode)); }},
    {.name = "upstream",
     .type = SettingType::text_list,
     .value_name = "POOL=HOST:PORT[,weight=W]",
     .help = "a server of upstream pool POOL (numeric IPv4, [IPv6], or a name resolved at "
             "start-up, its first address; weight 1..1000, default 1), repeatable; picked by "
             "--balance (default smooth weighted round robin)",
     .heading = "reverse proxy (--mode proxy)",
     .set =
         [](std::string_view v, Config* c) {
             proxy::RouteTable check;
             if (!check.add_upstream(v).empty()) return false;
             c->upstreams.emplace_back(v);
             return true;
         },
     .get = [](const Config& c) { return optional_text_list(c.upstreams); },
     .clear = [](Config* c) { c->upstreams.clear(); }},
    {.name = "route",
     .type = SettingType::text_list,
     .value_name = "[HOST]/PREFIX=POOL[,relay=tunnel|frames]",
     .help = "WebSocket upgrades whose path starts with /PREFIX go to POOL (longest prefix "
             "wins; no route: 404), repeatable; with HOST only requests whose Host is HOST "
             "(port and case ignored), host-less routes being the fallback. The request goes "
             "upstream with "
             "X-Forwarded-For, X-Forwarded-Proto and Forwarded (RFC 7239) added, then bytes "
             "are relayed unchanged both ways (tunnel), or wsgate terminates WebSocket on "
             "both sides and checks every client frame (frames; docs/proxy.md)",
     .set =
         [](std::string_view v, Config* c) {
             proxy::RouteTable check;
             if (!check.add_route(v).empty()) return false;
             c->routes.emplace_back(v);
             return true;
         },
     .get = [](const Config& c) { return optional_text_list(c.routes); },
     .clear = [](Config* c) { c->routes.clear(); }},
    {.name = "balance",
     .type = SettingType::text_list,
     .value_name = "POOL=POLICY",
     .help = "how POOL picks a server: round-robin (default), least-conn (fewest live "
             "connections per weight), hash:ip, hash:header:NAME, hash:cookie:NAME or "
             "hash:query:NAME (consistent hashing with bounded load on XXH3 of the key; a "
             "request without the key hashes its client address), repeatable",
     .set =
         [](std::string_view v, Config* c) {
             proxy::RouteTable check;
             if (!check.add_balance(v).empty()) return false;
             c->balances.emplace_back(v);
             return true;
         },
     .get = [](const Config& c) { return optional_text_list(c.balances); },
     .clear = [](Config* c) { c->balances.clear(); }},
    {.name = "hash-balance-factor",
     .type = SettingType::number,
     .value_name = "C",
     .help = "hashing pools: no server above ceil(C x average) live connections (bounded "
             "load; 1..100); a key whose server is full goes to the next one on the ring",
     .set =
         [](std::string_view v, Config* c) {
             double f = 0;
             if (!set_seconds(v, &f) || f < 1.0 || f > 100.0) return false;
             c->hash_balance_factor = f;
             return true;
         },
     .get = [](const Config& c) { return seconds_text(c.hash_balance_factor); }},
    {.name = "health-check",
     .type = SettingType::text_list,
     .value_name = "POOL=path=/healthz,interval=2,timeout=1,rise=2,fall=3",
     .help = "active checks of POOL's servers from the loops: GET PATH every interval seconds; "
             "2xx/3xx within timeout passes; rise passes bring a server up (slow start), fall "
             "failures take it down (no new connections; open ones stay); any subset of the "
             "keys, repeatable",
     .set =
         [](std::string_view v, Config* c) {
             proxy::RouteTable check;
             if (!check.add_health_check(v).empty()) return false;
             c->health_checks.emplace_back(v);
             return true;
         },
     .get = [](const Config& c) { return optional_text_list(c.health_checks); },
     .clear = [](Config* c) { c->health_checks.clear(); }},
    {.name = "upstream-max-fails",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "passive health: N connect or handshake failures in a row take a server out for "
             "--upstream-fail-timeout (not the only server of a pool); 0: never",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, 1000, &c->passive_health.max_fails); },
     .get = [](const Config& c) { return uint_text(c.passive_health.max_fails); }},
    {.name = "upstream-fail-timeout",
     .type = SettingType::seconds,
     .value_name = "SECONDS",
     .help = "how long a server taken out by failures gets no new connections",
     .set = [](std::string_view v,
               Config* c) { return set_ms(v, 0.001, &c->passive_health.fail_timeout_ms); },
     .get = [](const Config& c) { return ms_text(c.passive_health.fail_timeout_ms); }},
    {.name = "upstream-slow-start",
     .type = SettingType::seconds,
     .value_name = "SECONDS",
     .help = "a server back from failures or a failed health check ramps its weight from "
             "1% to 100% over this time; 0: at once",
     .set = [](std::string_view v,
               Config* c) { return set_ms(v, 0, &c->passive_health.slow_start_ms); },
     .get = [](const Config& c) { return ms_text(c.passive_health.slow_start_ms); }},
    {.name = "upstream-connect-timeout",
     .type = SettingType::seconds,
     .value_name = "SECONDS",
     .help = "then the pool's next server is tried; none left: 502 (504 after a timeout)",
     .set = [](std::string_view v,
               Config* c) { return set_seconds(v, &c->upstream_connect_timeout_s); },
     .get = [](const Config& c) { return seconds_text(c.upstream_connect_timeout_s); }},
    {.name = "upstream-ping-interval",
     .type = SettingType::seconds,
     .value_name = "SECONDS",
     .help = "relay=frames: ping each upstream this often (answered pongs keep an idle "
             "proxied connection from --idle-timeout); 0: no pings",
     .set = [](std::string_view v,
               Config* c) { return set_seconds_or_off(v, &c->upstream_ping_interval_s); },
     .get = [](const Config& c) { return seconds_text(c.upstream_ping_interval_s); }},

    {.name = "api-key",
     .type = SettingType::text,
     .value_name = "KEY",
     .help = "enables the HTTP server API (POST /api/..., header X-API-Key); without it /api/ "
             "is 404",
     .heading = "pub/sub (--mode pubsub)",
     .set = [](std::string_view v, Config* c) { return set_nonempty(v, &c->hub.api_key); },
     .get = [](const Config& c) { return optional_text(c.hub.api_key); }},
    {.name = "allow-client-publish",
     .type = SettingType::toggle,
     .help = "clients may publish (else error 103)",
     .set = [](std::string_view v,
               Config* c) { return set_toggle(v, &c->hub.allow_client_publish); },
     .get = [](const Config& c) { return bool_text(c.hub.allow_client_publish); }},
    {.name = "allow-anonymous",
     .type = SettingType::text,
     .value_name = "on|off",
     .help = "connect without a token",
     .set = [](std::string_view v, Config* c) { return set_on_off(v, &c->hub.allow_anonymous); },
     .get = [](const Config& c) { return on_off_text(c.hub.allow_anonymous); }},
    {.name = "token-hmac-secret",
     .type = SettingType::text,
     .value_name = "S",
     .help = "accept HS256 connection tokens signed with S",
     .set = [](std::string_view v,
               Config* c) { return set_nonempty(v, &c->hub.token_hmac_secret); },
     .get = [](const Config& c) { return optional_text(c.hub.token_hmac_secret); }},
    {.name = "token-rsa-public-key",
     .type = SettingType::text,
     .value_name = "FILE",
     .help = "accept RS256 connection tokens signed by the key whose PEM public key is in "
             "FILE (2048 bits or more); read again on SIGHUP",
     .set = [](std::string_view v,
               Config* c) { return set_nonempty(v, &c->hub.token_rsa_public_key); },
     .get = [](const Config& c) { return optional_text(c.hub.token_rsa_public_key); }},
    {.name = "token-ecdsa-public-key",
     .type = SettingType::text,
     .value_name = "FILE",
     .help = "accept ES256 connection tokens signed by the P-256 key whose PEM public key is "
             "in FILE; read again on SIGHUP",
     .set = [](std::string_view v,
               Config* c) { return set_nonempty(v, &c->hub.token_ecdsa_public_key); },
     .get = [](const Config& c) { return optional_text(c.hub.token_ecdsa_public_key); }},
    {.name = "token-jwks-file",
     .type = SettingType::text,
     .value_name = "FILE",
     .help = "accept RS256 and ES256 connection tokens signed by a key of the JWK Set in FILE "
             "(chosen by the token's kid); read again on SIGHUP (a bad file keeps the keys "
             "in use and says why)",
     .set = [](std::string_view v, Config* c) { return set_nonempty(v, &c->hub.token_jwks_file); },
     .get = [](const Config& c) { return optional_text(c.hub.token_jwks_file); }},
    {.name = "history-size",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "publications kept per channel for history and recovery (0: none)",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, kMaxHistorySize, &c->hub.history_size); },
     .get = [](const Config& c) { return uint_text(c.hub.history_size); }},
    {.name = "history-ttl",
     .type = SettingType::integer,
     .value_name = "SECONDS",
     .help = "how long they are kept",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 1, kMaxHistoryTtlSeconds, &c->hub.history_ttl_s); },
     .get = [](const Config& c) { return uint_text(c.hub.history_ttl_s); }},
    {.name = "namespace",
     .type = SettingType::text_list,
     .value_name = "NAME[,OPTION=VALUE...]",
     .help = "a channel namespace: channels NAME:... take its options instead of the ones "
             "above, with Centrifugo v5's names and defaults (history_size, history_ttl, "
             "presence, allow_subscribe_for_client, allow_publish_for_subscriber, "
             "allow_history_for_client, allow_presence_for_anonymous, ...; docs/pubsub.md); "
             "channels of a namespace not configured are error 102. Repeatable; in a file "
             "also [[namespace]] tables with name = \"NAME\" and the options as keys",
     .set =
         [](std::string_view v, Config* c) {
             pubsub::ChannelNamespace ns;
             if (!parse_namespace_flag(v, &ns).empty()) return false;
             c->hub.namespaces.push_back(std::move(ns));
             return true;
         },
     .get =
         [](const Config& c) {
             std::vector<std::string> items;
             for (const pubsub::ChannelNamespace& ns : c.hub.namespaces)
                 items.push_back(namespace_flag_text(ns));
             return optional_text_list(items);
         },
     .clear = [](Config* c) { c->hub.namespaces.clear(); }},
    {.name = "ping-interval",
     .type = SettingType::integer,
     .value_name = "SECONDS",
     .help = "server ping {} interval; no pong by the next ping closes with 3012 (0: none)",
     .set =
         [](std::string_view v, Config* c) {
             return set_uint(v, 0, kMaxPingIntervalSeconds, &c->hub.ping_interval_s);
         },
     .get = [](const Config& c) { return uint_text(c.hub.ping_interval_s); }},
    {.name = "max-channels-per-connection",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "subscriptions per connection; more: error 106",
     .set =
         [](std::string_view v, Config* c) {
             return set_uint(v, 1, UINT32_MAX, &c->hub.max_channels_per_connection);
         },
     .get = [](const Config& c) { return uint_text(c.hub.max_channels_per_connection); }},
    {.name = "max-channels",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "channels on the node; more: error 106. A subscriber whose queue is over "
             "--max-queued-bytes when a publication comes is closed with 3008 (slow); it "
             "reconnects and recovers from history",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 1, UINT64_MAX, &c->hub.max_channels); },
     .get = [](const Config& c) { return uint_text(c.hub.max_channels); }},
    {.name = "engine",
     .type = SettingType::text,
     .value_name = "memory|redis",
     .help = "where channels, offsets and history live: this process, or Redis (--redis), so "
             "several nodes serve one channel space (docs/redis-engine.md)",
     .set =
         [](std::string_view v, Config* c) {
             if (v != "memory" && v != "redis") return false;
             c->hub.redis_engine = v == "redis";
             return true;
         },
     .get = [](const Config& c) { return toml_quoted(c.hub.redis_engine ? "redis" : "memory"); }},
    {.name = "redis",
     .type = SettingType::text_list,
     .value_name = "HOST:PORT",
     .help = "a Redis shard (numeric IPv4 or [IPv6]), repeatable: channels are spread over "
             "them by jump consistent hash of XXH3(channel)",
     .set =
         [](std::string_view v, Config* c) {
             if (!io::parse_endpoint(v)) return false;
             c->redis.emplace_back(v);
             return true;
         },
     .get = [](const Config& c) { return optional_text_list(c.redis); },
     .clear = [](Config* c) { c->redis.clear(); }},
    {.name = "redis-password",
     .type = SettingType::text,
     .value_name = "S",
     .help = "AUTH with S on every Redis link",
     .set = [](std::string_view v, Config* c) { return set_nonempty(v, &c->redis_password); },
     .get = [](const Config& c) { return optional_text(c.redis_password); }},
    {.name = "redis-db",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "SELECT N on every Redis link",
     .set = [](std::string_view v, Config* c) { return set_uint(v, 0, 1 << 20, &c->redis_db); },
     .get = [](const Config& c) { return uint_text(c.redis_db); }},
    {.name = "redis-connect-timeout",
     .type = SettingType::seconds,
     .value_name = "SECONDS",
     .help = "a Redis connect taking longer fails (then reconnects with backoff and jitter)",
     .set = [](std::string_view v,
               Config* c) { return set_seconds(v, &c->redis_connect_timeout_s); },
     .get = [](const Config& c) { return seconds_text(c.redis_connect_timeout_s); }},
    {.name = "redis-command-timeout",
     .type = SettingType::seconds,
     .value_name = "SECONDS",
     .help = "a Redis command unanswered this long closes its link (what waits fails: "
             "publishes get 108 'not available', HTTP API 503) and it reconnects",
     .set = [](std::string_view v,
               Config* c) { return set_seconds(v, &c->redis_command_timeout_s); },
     .get = [](const Config& c) { return seconds_text(c.redis_command_timeout_s); }},
    {.name = "redis-health-strict",
     .type = SettingType::text,
     .value_name = "on|off",
     .help = "while a Redis link is down /healthz and /readyz answer 503 with the reason (off: "
             "200, for a node that may serve local clients alone)",
     .set = [](std::string_view v,
               Config* c) { return set_on_off(v, &c->hub.redis_health_strict); },
     .get = [](const Config& c) { return on_off_text(c.hub.redis_health_strict); }},

    {.name = "max-message-bytes",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "largest message accepted",
     .heading = "connections",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, UINT64_MAX, &c->max_message_bytes); },
     .get = [](const Config& c) { return uint_text(c.max_message_bytes); }},
    {.name = "max-connections",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "per process; more get 503",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 1, kMaxConnections, &c->max_connections); },
     .get = [](const Config& c) { return uint_text(c.max_connections); }},
    {.name = "idle-timeout",
     .type = SettingType::seconds,
     .value_name = "SECONDS",
     .help = "ping after half, close 1001 after all",
     .set = [](std::string_view v, Config* c) { return set_seconds(v, &c->idle_timeout_s); },
     .get = [](const Config& c) { return seconds_text(c.idle_timeout_s); }},
    {.name = "handshake-timeout",
     .type = SettingType::seconds,
     .value_name = "SECONDS",
     .help = "complete request head within",
     .set = [](std::string_view v, Config* c) { return set_seconds(v, &c->handshake_timeout_s); },
     .get = [](const Config& c) { return seconds_text(c.handshake_timeout_s); }},
    {.name = "max-handshakes",
     .type = SettingType::integer_or_auto,
     .value_name = "N",
     .help = "connections still sending their request head, per process, within "
             "--max-connections. At it or at --max-connections, a new connection takes the "
             "place of an older handshake, which gets 408: first one that sent part of a head "
             "and stalled, else the oldest silent one (after 50 ms); with none, the newcomer's "
             "head must be complete within 100-200 ms (it then needs no handshake slot), else "
             "503. Established connections are never displaced",
     .default_note = "auto: a quarter of --max-connections",
     .set = [](std::string_view v,
               Config* c) { return set_uint_or_auto(v, 1, kMaxConnections, &c->max_handshakes); },
     .get = [](const Config& c) { return uint_or_auto_text(c.max_handshakes); }},
    {.name = "max-handshakes-per-ip",
     .type = SettingType::integer_or_auto,
     .value_name = "N",
     .help = "handshakes in progress per client address (IPv6: per /64), shared out among the "
             "loops; more get 429 (not applied with --direct-descriptors)",
     .default_note = "auto: a quarter of --max-handshakes",
     .set =
         [](std::string_view v, Config* c) {
             return set_uint_or_auto(v, 1, kMaxConnections, &c->max_handshakes_per_ip);
         },
     .get = [](const Config& c) { return uint_or_auto_text(c.max_handshakes_per_ip); }},
    {.name = "busy-handshake-timeout",
     .type = SettingType::seconds,
     .value_name = "SECONDS",
     .help = "once over half of --max-handshakes are in progress, heads must complete within "
             "this; older ones are dropped oldest first (408), refused connections linger at "
             "most this long",
     .set = [](std::string_view v,
               Config* c) { return set_seconds(v, &c->busy_handshake_timeout_s); },
     .get = [](const Config& c) { return seconds_text(c.busy_handshake_timeout_s); }},
    {.name = "close-timeout",
     .type = SettingType::seconds,
     .value_name = "SECONDS",
     .help = "wait for the peer's close",
     .set = [](std::string_view v, Config* c) { return set_seconds(v, &c->close_timeout_s); },
     .get = [](const Config& c) { return seconds_text(c.close_timeout_s); }},
    {.name = "drain-timeout",
     .type = SettingType::seconds,
     .value_name = "SECONDS",
     .help = "on SIGTERM stop accepting, then let established connections (proxied ones "
             "too) go on this long before closing them 1001 (0: at once)",
     .set = [](std::string_view v,
               Config* c) { return set_seconds_or_off(v, &c->drain_timeout_s); },
     .get = [](const Config& c) { return seconds_text(c.drain_timeout_s); }},
    {.name = "upgrade-timeout",
     .type = SettingType::seconds,
     .value_name = "SECONDS",
     .help = "live upgrade (SIGUSR2, POST /admin/upgrade): how long the new process may take to "
             "start, and connections to become quiet enough to move; later ones are closed 1001",
     .set = [](std::string_view v, Config* c) { return set_seconds(v, &c->upgrade_timeout_s); },
     .get = [](const Config& c) { return seconds_text(c.upgrade_timeout_s); }},
    {.name = "memory-release-delay",
     .type = SettingType::seconds,
     .value_name = "SECONDS",
     .help = "once a loop's connections and queued output fell to half of their peak, free "
             "memory goes back to the OS this long after",
     .set = [](std::string_view v,
               Config* c) { return set_seconds(v, &c->memory_release_delay_s); },
     .get = [](const Config& c) { return seconds_text(c.memory_release_delay_s); }},
    {.name = "max-request-bytes",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "largest plain HTTP request body (Content-Length): larger gets 413, chunked 411",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, UINT64_MAX, &c->max_request_bytes); },
     .get = [](const Config& c) { return uint_text(c.max_request_bytes); }},
    {.name = "max-queued-bytes",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "per-connection output cap: above it reading pauses, and input already received "
             "waits unprocessed (never dropped) until the queue is under N/2. Checked per "
             "receive and per HTTP request, so a queue never holds more than N + one receive "
             "buffer's echo (compressed: its re-compressed echo) or N + one HTTP response, on "
             "both backends; over TLS the encrypted records not yet sent count too",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 1, UINT64_MAX, &c->max_queued_bytes); },
     .get = [](const Config& c) { return uint_text(c.max_queued_bytes); }},
    {.name = "recv-buffers",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "io_uring provided buffers per loop, power of two",
     .set =
         [](std::string_view v, Config* c) {
             uint32_t n = 0;
             if (!set_uint(v, 1, kMaxRecvBuffers, &n) || (n & (n - 1)) != 0) return false;
             c->recv_buffers = n;
             return true;
         },
     .get = [](const Config& c) { return uint_text(c.recv_buffers); }},
    {.name = "recv-buffer-bytes",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "size of each receive buffer",
     .set =
         [](std::string_view v, Config* c) {
             return set_uint(v, kMinRecvBufferBytes, kMaxRecvBufferBytes, &c->recv_buffer_bytes);
         },
     .get = [](const Config& c) { return uint_text(c.recv_buffer_bytes); }},
    {.name = "trace",
     .type = SettingType::toggle,
     .help = "log handshake bytes (CR as \u240D, LF as \u240A)",
     .set = [](std::string_view v, Config* c) { return set_toggle(v, &c->trace); },
     .get = [](const Config& c) { return bool_text(c.trace); }},
    {.name = "log-level",
     .type = SettingType::text,
     .value_name = "error|warn|info|debug",
     .help = "lines below this level are not written; debug adds a line per connection "
             "opened and closed. Live on reload",
     .set = [](std::string_view v, Config* c) { return io::parse_log_level(v, &c->log_level); },
     .get = [](const Config& c) { return toml_quoted(io::log_level_name(c.log_level)); }},
    {.name = "log-format",
     .type = SettingType::text,
     .value_name = "text|json",
     .help = "stderr lines as text (\"wsgate: ...\") or as JSON objects, one per line "
             "({\"ts\",\"level\",\"msg\",\"conn\": the connection's request id, ...}); "
             "docs/logging.md",
     .set = [](std::string_view v, Config* c) { return io::parse_log_format(v, &c->log_format); },
     .get = [](const Config& c) { return toml_quoted(io::log_format_name(c.log_format)); }},
    {.name = "io-stats",
     .type = SettingType::toggle,
     .help = "at exit, each loop prints its system calls, io_uring submissions and "
             "completions, and per message",
     .set = [](std::string_view v, Config* c) { return set_toggle(v, &c->io_stats); },
     .get = [](const Config& c) { return bool_text(c.io_stats); }},
    {.name = "direct-descriptors",
     .type = SettingType::toggle,
     .help = "io_uring: accept into a registered file table; each loop then holds up to "
             "RLIMIT_NOFILE connections without using process descriptors",
     .set = [](std::string_view v, Config* c) { return set_toggle(v, &c->direct_descriptors); },
     .get = [](const Config& c) { return bool_text(c.direct_descriptors); }},
    {.name = "zero-copy-min-bytes",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "io_uring: echo pieces of N bytes or more straight from the receive buffer, "
             "without a copy (64 KiB echo: -14% server CPU, 1 KiB: no gain)",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, UINT64_MAX, &c->zero_copy_min_bytes); },
     .get = [](const Config& c) { return uint_text(c.zero_copy_min_bytes); }},

    {.name = "allow-origin",
     .type = SettingType::text_list,
     .value_name = "[ADDR:PORT=|/PREFIX=]ORIGIN",
     .help = "browser origins that may open a WebSocket, repeatable: https://app.example.com, "
             "https://*.example.com (subdomains), *.example.com (any scheme), * (any); a "
             "pattern without a port matches origins without one. Prefixed with a path prefix "
             "(a proxy --route, say) or a --listen address: for those upgrades only; the most "
             "specific scope with patterns decides (path, then listener, then global). Other "
             "origins get 403 before the upgrade; a request without Origin (not from a "
             "browser) is allowed",
     .default_note = "any origin",
     .heading = "admission at the edge",
     .set =
         [](std::string_view v, Config* c) {
             if (!check_origin_rule(v).empty()) return false;
             c->allow_origins.emplace_back(v);
             return true;
         },
     .get = [](const Config& c) { return optional_text_list(c.allow_origins); },
     .clear = [](Config* c) { c->allow_origins.clear(); }},
    {.name = "max-request-head-bytes",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "largest request head (request line and header fields), 256..8192; larger: 431",
     .set =
         [](std::string_view v, Config* c) {
             return set_uint(v, kMinRequestHeadBytes, kMaxRequestHeadBytes,
                             &c->max_request_head_bytes);
         },
     .get = [](const Config& c) { return uint_text(c.max_request_head_bytes); }},
    {.name = "max-request-headers",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "most header fields in a request head, 1..64; more: 431",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 1, kMaxRequestHeaders, &c->max_request_headers); },
     .get = [](const Config& c) { return uint_text(c.max_request_headers); }},
    {.name = "max-connections-per-ip",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "open connections per client address (IPv6: per --ipv6-prefix-length), per "
             "process; more get 429 with Retry-After (0: no limit)",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, kMaxConnections, &c->max_connections_per_ip); },
     .get = [](const Config& c) { return uint_text(c.max_connections_per_ip); }},
    {.name = "connection-rate-per-ip",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "new connections per second per client address (token bucket), per process; "
             "more get 429 with Retry-After (0: no limit)",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, kMaxRate32, &c->connection_rate_per_ip); },
     .get = [](const Config& c) { return uint_text(c.connection_rate_per_ip); }},
    {.name = "connection-burst-per-ip",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "new connections a client address may open at once before its rate applies",
     .default_note = "0: one second's worth of --connection-rate-per-ip",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, kMaxRate32, &c->connection_burst_per_ip); },
     .get = [](const Config& c) { return uint_text(c.connection_burst_per_ip); }},
    {.name = "ipv6-prefix-length",
     .type = SettingType::integer,
     .value_name = "BITS",
     .help = "IPv6 clients count per prefix of this length for the per-address limits (a host "
             "is routinely given a whole /64, RFC 6177), 32..128",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 32, 128, &c->ipv6_prefix_length); },
     .get = [](const Config& c) { return uint_text(c.ipv6_prefix_length); }},
    {.name = "max-messages-per-second",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "per connection: data messages and ping/pong frames per second (token bucket); "
             "more: close 1008 (0: no limit)",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, kMaxRate64, &c->max_messages_per_second); },
     .get = [](const Config& c) { return uint_text(c.max_messages_per_second); }},
    {.name = "message-burst",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "messages a connection may send at once before its rate applies",
     .default_note = "0: one second's worth",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, kMaxRate64, &c->message_burst); },
     .get = [](const Config& c) { return uint_text(c.message_burst); }},
    {.name = "max-bytes-per-second",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "per connection: payload bytes received per second (token bucket, as on the "
             "wire); more: close 1008 (0: no limit)",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, kMaxRate64, &c->max_bytes_per_second); },
     .get = [](const Config& c) { return uint_text(c.max_bytes_per_second); }},
    {.name = "byte-burst",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "payload bytes a connection may send at once before its rate applies",
     .default_note = "0: one second's worth",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, kMaxRate64, &c->byte_burst); },
     .get = [](const Config& c) { return uint_text(c.byte_burst); }},
    {.name = "tls-cert",
     .type = SettingType::text_list,
     .value_name = "FILE",
     .help = "PEM certificate chain (leaf first) for TLS listeners, repeatable, paired with "
             "--tls-key by order; the first is the default, the others are chosen by the "
             "client's SNI name against the names in each certificate (subjectAltName, "
             "wildcards included)",
     .heading = "TLS",
     .set = [](std::string_view v, Config* c) { return set_nonempty_item(v, &c->tls_certs); },
     .get = [](const Config& c) { return optional_text_list(c.tls_certs); },
     .clear = [](Config* c) { c->tls_certs.clear(); }},
    {.name = "tls-key",
     .type = SettingType::text_list,
     .value_name = "FILE",
     .help = "PEM private key of the --tls-cert in the same position, repeatable",
     .set = [](std::string_view v, Config* c) { return set_nonempty_item(v, &c->tls_keys); },
     .get = [](const Config& c) { return optional_text_list(c.tls_keys); },
     .clear = [](Config* c) { c->tls_keys.clear(); }},
    {.name = "tls-ciphers",
     .type = SettingType::text,
     .value_name = "LIST",
     .help = "TLS 1.2 cipher list (OpenSSL syntax); TLS 1.0 and 1.1 are never offered",
     .set = [](std::string_view v, Config* c) { return set_nonempty(v, &c->tls_ciphers); },
     .get = [](const Config& c) { return toml_quoted(c.tls_ciphers); }},
    {.name = "tls-ciphersuites",
     .type = SettingType::text,
     .value_name = "LIST",
     .help = "TLS 1.3 cipher suites (OpenSSL syntax)",
     .set = [](std::string_view v, Config* c) { return set_nonempty(v, &c->tls_ciphersuites); },
     .get = [](const Config& c) { return toml_quoted(c.tls_ciphersuites); }},
    {.name = "tls-ticket-key-rotation",
     .type = SettingType::seconds,
     .value_name = "SECONDS",
     .help = "session tickets are sealed with a key replaced this often; a ticket from the "
             "previous period still resumes (and is renewed), older ones get a full handshake",
     .set = [](std::string_view v,
               Config* c) { return set_seconds(v, &c->tls_ticket_key_rotation_s); },
     .get = [](const Config& c) { return seconds_text(c.tls_ticket_key_rotation_s); }},
    {.name = "tls-kernel",
     .type = SettingType::text,
     .value_name = "auto|off|always",
     .help = "hand established sessions to the kernel's tls ULP (kTLS: the kernel encrypts, "
             "the SSL object is freed); auto: where tcp_available_ulp lists tls; always: try "
             "even where it does not (a refused connection stays in user-space TLS)",
     .set =
         [](std::string_view v, Config* c) {
             if (v == "auto") {
                 c->tls_kernel = tls::KernelTlsMode::automatic;
             } else if (v == "off") {
                 c->tls_kernel = tls::KernelTlsMode::off;
             } else if (v == "always") {
                 c->tls_kernel = tls::KernelTlsMode::always;
             } else {
                 return false;
             }
             return true;
         },
     .get =
         [](const Config& c) {
             switch (c.tls_kernel) {
                 case tls::KernelTlsMode::off:
                     return toml_quoted("off");
                 case tls::KernelTlsMode::always:
                     return toml_quoted("always");
                 default:
                     return toml_quoted("auto");
             }
         }},

    {.name = "deflate",
     .type = SettingType::text,
     .value_name = "on|off",
     .help = "permessage-deflate (RFC 7692)",
     .heading = "permessage-deflate",
     .set = [](std::string_view v, Config* c) { return set_on_off(v, &c->deflate.enabled); },
     .get = [](const Config& c) { return on_off_text(c.deflate.enabled); }},
    {.name = "deflate-window-bits",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "window the server compresses with, 9..15 (zlib cannot compress raw deflate "
             "with an 8-bit window)",
     .set =
         [](std::string_view v, Config* c) {
             return set_uint(v, proto::kMinZlibWindowBits, proto::kMaxWindowBits,
                             &c->deflate.server_max_window_bits);
         },
     .get = [](const Config& c) { return uint_text(c.deflate.server_max_window_bits); }},
    {.name = "deflate-client-window-bits",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "largest window a client may use, 8..15; below 15 only clients offering "
             "client_max_window_bits are accepted",
     .set =
         [](std::string_view v, Config* c) {
             return set_uint(v, proto::kMinWindowBits, proto::kMaxWindowBits,
                             &c->deflate.client_max_window_bits);
         },
     .get = [](const Config& c) { return uint_text(c.deflate.client_max_window_bits); }},
    {.name = "deflate-no-context-takeover",
     .type = SettingType::text,
     .value_name = "both|server|client|none",
     .help = "which side resets its window after each message; with both, idle connections "
             "hold no zlib memory",
     .set =
         [](std::string_view v, Config* c) {
             if (v != "both" && v != "server" && v != "client" && v != "none") return false;
             c->deflate.server_no_context_takeover = v == "both" || v == "server";
             c->deflate.client_no_context_takeover = v == "both" || v == "client";
             return true;
         },
     .get = [](const Config& c) { return toml_quoted(no_context_takeover_text(c.deflate)); }},
    {.name = "deflate-level",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "zlib level 0..9",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, kMaxDeflateLevel, &c->deflate.level); },
     .get = [](const Config& c) { return uint_text(static_cast<uint64_t>(c.deflate.level)); }},
    {.name = "deflate-mem-level",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "zlib memLevel 1..9",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 1, kMaxMemLevel, &c->deflate.mem_level); },
     .get = [](const Config& c) { return uint_text(c.deflate.mem_level); }},
    {.name = "deflate-min-bytes",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "messages shorter than this are sent uncompressed",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, SIZE_MAX, &c->deflate.min_message_bytes); },
     .get = [](const Config& c) { return uint_text(c.deflate.min_message_bytes); }},
    {.name = "deflate-max-ratio",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "close 1008 on an incoming message whose inflating costs more than N times its "
             "compressed size, checked once it passed 1 MiB (DEFLATE reaches ~1030 on zeros, "
             "text 3-30; 0: off). --max-message-bytes bounds a compressed message both as sent "
             "and as inflated (1009)",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, UINT32_MAX, &c->deflate.max_inflate_ratio); },
     .get = [](const Config& c) { return uint_text(c.deflate.max_inflate_ratio); }},
    {.name = "deflate-max-streams",
     .type = SettingType::integer,
     .value_name = "N",
     .help = "zlib streams (~260 KiB each at the defaults) each loop's connections may hold at "
             "once: messages in flight and context-takeover windows; beyond it a new compressed "
             "message is closed 1013 (try again later) and replies go uncompressed; refusals "
             "are logged with their count",
     .default_note = "0: 1/8 of physical memory over all loops",
     .set = [](std::string_view v,
               Config* c) { return set_uint(v, 0, UINT64_MAX, &c->deflate_max_streams); },
     .get = [](const Config& c) { return uint_text(c.deflate_max_streams); }},

    {.name = "config",
     .type = SettingType::command_line,
     .value_name = "FILE",
     .help = "read settings from a TOML file first: every flag above is a key of the same "
             "name and meaning (listen = [\"0.0.0.0:8080\"], mode = \"pubsub\", trace = true, "
             "idle-timeout = 30); flags given as well override it. `wsgate check-config FILE` "
             "validates a file and prints the effective configuration",
     .heading = "command line",
     .set = [](std::string_view v, Config* c) { return set_nonempty(v, &c->config_file); },
     .get = no_value},
    {.name = "features",
     .type = SettingType::command_line,
     .help = "print the io_uring features this kernel offers (probed; the backend uses them) "
             "and exit",
     .set = [](std::string_view v, Config* c) { return set_toggle(v, &c->features); },
     .get = no_value},
    {.name = "version",
     .type = SettingType::command_line,
     .help = "print the version, kernel and io_uring features",
     .set = [](std::string_view v, Config* c) { return set_toggle(v, &c->version); },
     .get = no_value},
    {.name = "help",
     .type = SettingType::command_line,
     .help = "this text",
     .set = [](std::string_view v, Config* c) { return set_toggle(v, &c->help); },
     .get = no_value},
};

}  // namespace

std::span<const Setting> settings() {
    return kSettings;
}

const Setting* find_setting(std::string_view name) {
    for (const Setting& s : kSettings) {
        if (s.name == name) return &s;
    }
    return nullptr;
}

const Setting* nearest_setting(std::string_view name, bool file_keys_only) {
    // A typo is a few edits, a third of the name at most: "max-queue-bytes"
    // suggests max-queued-bytes, "no-such-flag" suggests nothing.
    size_t limit = std::max<size_t>(1, std::min<size_t>(3, name.size() / 3));
    const Setting* best = nullptr;
    size_t best_distance = limit + 1;
    for (const Setting& s : kSettings) {
        if (file_keys_only && s.type == SettingType::command_line) continue;
        size_t d = edit_distance(name, s.name);
        if (d < best_distance) {
            best = &s;
            best_distance = d;
        }
    }
    return best;
}

std::string toml_quoted(std::string_view text) {
    std::string out = "\"";
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04X", c);
            out += buf;
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

}  // namespace wsgate::gateway
