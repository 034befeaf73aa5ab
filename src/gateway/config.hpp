// What wsgate runs with: every setting, with its default, and the ways it is
// given (flags, a TOML file). The settings themselves (names, types, help,
// validation) are one table, gateway/config_settings.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/backend_kind.hpp"
#include "io/log.hpp"
#include "proto/deflate_negotiation.hpp"
#include "proxy/route_table.hpp"
#include "pubsub/hub_settings.hpp"
#include "tls/tls_settings.hpp"

namespace wsgate::gateway {

// The gateway's permessage-deflate defaults, chosen for many mostly idle
// connections: no context takeover on either side, so an idle connection
// holds no zlib memory at all (a context-takeover connection keeps ~300 KiB:
// a 15-bit deflate window with memLevel 8 plus a 32 KiB inflate window);
// zlib level 3, which on JSON-like text compresses within ~15% of level 6 at
// about twice its speed; messages under 128 bytes go plain (a raw-deflated
// 64-byte JSON message saves ~6 bytes for a whole zlib pass).
inline proto::DeflateConfig default_deflate_config() {
    proto::DeflateConfig d;
    d.enabled = true;
    d.server_max_window_bits = proto::kMaxWindowBits;
    d.client_max_window_bits = proto::kMaxWindowBits;
    d.server_no_context_takeover = true;
    d.client_no_context_takeover = true;
    d.level = 3;
    d.mem_level = proto::kDefaultMemLevel;
    d.min_message_bytes = 128;
    return d;
}

enum class Mode : uint8_t { echo, pubsub, proxy };

inline constexpr const char* kDefaultListen = "0.0.0.0:8080";

struct Config {
    Mode mode = Mode::echo;
    pubsub::HubSettings hub;  // --mode pubsub
    // --mode proxy: servers of upstream pools and routes, as given
    // ("POOL=HOST:PORT[,weight=W]", "PREFIX=POOL"; see proxy_routes), and how
    // long an upstream's TCP connect may take before the pool's next server.
    std::vector<std::string> upstreams;
    std::vector<std::string> routes;
    std::vector<std::string> balances;  // "POOL=POLICY" (--balance)
    double hash_balance_factor = proxy::kDefaultHashBalanceFactor;
    std::vector<std::string> health_checks;  // "POOL=path=...,interval=..." (--health-check)
    proxy::PassiveHealth passive_health;
    double upstream_connect_timeout_s = 5;
    // --mode pubsub --engine redis: shards as given ("HOST:PORT"), AUTH
    // password, database, timeouts (hub.redis_engine says whether).
    std::vector<std::string> redis;
    std::string redis_password;
    uint32_t redis_db = 0;
    double redis_connect_timeout_s = 1;
    double redis_command_timeout_s = 1;
    std::vector<std::string> listen{kDefaultListen};  // the first --listen replaces the list
    // TLS listeners (--listen ADDR:PORT,tls): certificate chains and keys,
    // paired by order (the first pair is the default; SNI picks the others
    // by the names in their certificates), cipher lists, ticket key period.
    std::vector<std::string> tls_certs;
    std::vector<std::string> tls_keys;
    std::string tls_ciphers{tls::kDefaultCiphers};
    std::string tls_ciphersuites{tls::kDefaultCiphersuites};
    double tls_ticket_key_rotation_s = 12 * 3600;
    tls::KernelTlsMode tls_kernel = tls::KernelTlsMode::automatic;
    unsigned threads = 0;  // 0 ("auto"): number of cores
    unsigned workers = 1;  // processes sharing the port (SO_REUSEPORT)
    io::BackendKind backend = io::BackendKind::auto_select;
    std::string admin_listen;  // --admin-listen: /metrics, /healthz, /readyz (empty: off)
    uint64_t max_message_bytes = 16 * 1024 * 1024;
    uint32_t max_connections = 100000;
    double idle_timeout_s = 60;
    uint32_t max_handshakes = 0;         // 0 ("auto"): a quarter of max_connections
    uint32_t max_handshakes_per_ip = 0;  // 0 ("auto"): a quarter of max_handshakes
    double handshake_timeout_s = 10;
    double busy_handshake_timeout_s = 2;  // once over half of max_handshakes are in progress
    double close_timeout_s = 5;
    double drain_timeout_s = 0;            // SIGTERM: established connections go on this long
    double upstream_ping_interval_s = 30;  // proxy frames relay: 0 = no keepalive pings
    double memory_release_delay_s = 5;     // after a loop's load halved (ws::MemoryReleaseTimer)
    double upgrade_timeout_s = 10;         // live upgrade: new process start, connections to move
    uint64_t max_queued_bytes = 1024 * 1024;
    uint64_t max_request_bytes = 1024 * 1024;  // plain HTTP request bodies; larger: 413
    uint64_t zero_copy_min_bytes = 8192;       // echo without copy from this size (io_uring)
    uint32_t recv_buffers = 1024;              // per loop, power of two
    uint32_t recv_buffer_bytes = 16384;
    bool trace = false;
    io::LogLevel log_level = io::LogLevel::info;
    io::LogFormat log_format = io::LogFormat::text;
    bool io_stats = false;            // each loop prints its system call counters at exit
    bool direct_descriptors = false;  // io_uring: connections in a registered file table
    // permessage-deflate (RFC 7692); defaults from default_deflate_config().
    proto::DeflateConfig deflate = default_deflate_config();
    // zlib streams per loop its connections may hold at once; 0: an eighth
    // of physical memory over all loops (gateway/deflate_budget.hpp).
    uint64_t deflate_max_streams = 0;
    // Admission at the edge (gateway/edge_config.hpp turns these into
    // ws::EdgeLimits and ws::PeerAdmission settings); 0 / empty: off.
    std::vector<std::string> allow_origins;  // "[ADDR:PORT=]PATTERN"
    uint64_t max_request_head_bytes = 8192;
    uint32_t max_request_headers = 64;
    uint32_t max_connections_per_ip = 0;
    uint32_t connection_rate_per_ip = 0;   // new connections per second
    uint32_t connection_burst_per_ip = 0;  // 0: the rate (one second's worth)
    uint32_t ipv6_prefix_length = 64;
    uint64_t max_messages_per_second = 0;
    uint64_t message_burst = 0;  // 0: the rate
    uint64_t max_bytes_per_second = 0;
    uint64_t byte_burst = 0;  // 0: the rate
    // Command-line only: never keys of a configuration file.
    std::string config_file;  // --config FILE, read before the flags apply
    bool help = false;
    bool version = false;   // print the version, kernel and io_uring features, exit
    bool features = false;  // print the io_uring feature line, exit
};

// Parses argv into *config (starting from what it holds). With --config
// FILE, the file is loaded first and the flags then override it. Returns an
// empty string on success, else a one-line error message.
std::string parse_config(int argc, const char* const* argv, Config* config);

// Applies the keys of a TOML configuration file to *config (keys absent
// from it keep their value). Returns "" or one line naming the file, line
// and column: a syntax error, an unknown key (with the nearest known one), a
// value of the wrong TOML type (with the type expected) or a bad value.
std::string load_config_file(const std::string& path, Config* config);
// The same for a document already in memory; `source` names it in errors.
std::string load_config_text(std::string_view toml, std::string_view source, Config* config);

// Checks that the settings, each valid alone, go together. "" or an error.
std::string check_config(const Config& config);

// The configuration as a TOML file: every setting with its value, defaults
// included, in the table's order; load_config_text() of it gives back the
// same configuration. Unset optional settings (api-key, ...) are comments.
std::string format_config(const Config& config);

// --mode proxy: the route table of config.upstreams and config.routes.
// "" or an error (a route to an unknown pool, no route).
std::string proxy_routes(const Config& config, proxy::RouteTable* table);

// The limits of handshakes in progress with their defaults resolved: a
// quarter of --max-connections, and a quarter of that per address.
uint32_t resolved_max_handshakes(const Config& config);
uint32_t resolved_max_handshakes_per_ip(const Config& config);

// A --listen value: the address, and whether it ends in ",tls".
std::string_view listen_address(std::string_view text, bool* tls);
// Whether any --listen address is a TLS one.
bool has_tls_listener(const Config& config);
// The TLS settings of config (certificate and key files paired by order).
tls::TlsSettings tls_settings(const Config& config);

// The --help text, made from the settings table.
std::string config_help();

}  // namespace wsgate::gateway
