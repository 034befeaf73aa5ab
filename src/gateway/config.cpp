#include "gateway/config.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>

namespace wsgate::gateway {

namespace {

constexpr double kMaxSeconds = 86400.0 * 365;
constexpr uint32_t kMaxRecvBuffers = 32768;
constexpr uint64_t kMaxDeflateLevel = 9;  // zlib's levels are 0..9
constexpr uint64_t kMaxMemLevel = 9;      // zlib's MAX_MEM_LEVEL

bool parse_u64(std::string_view s, uint64_t* out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

bool parse_seconds(std::string_view s, double* out) {
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

}  // namespace

std::string config_help() {
    return "usage: wsgate [flags]\n"
           "  --listen ADDR:PORT         listen address, repeatable; IPv6 as [::1]:8080 "
           "(default 0.0.0.0:8080)\n"
           "  --threads N                event loops (default: number of cores)\n"
           "  --workers N                processes sharing the port, each with --threads loops\n"
           "                             and its own --max-connections (default 1); a worker\n"
           "                             that dies is restarted, more than 5 restarts within\n"
           "                             30 s stop them all (exit 1)\n"
           "  --backend auto|io_uring|epoll  (default auto: io_uring, else epoll)\n"
           "  --mode echo|pubsub         application (default echo). pubsub: a hub speaking\n"
           "                             the Centrifugo client protocol (JSON) on\n"
           "                             /connection/websocket, see docs/pubsub.md\n"
           "pub/sub (--mode pubsub):\n"
           "  --api-key KEY              enables the HTTP server API (POST /api/..., header\n"
           "                             X-API-Key); without it /api/ is 404\n"
           "  --allow-client-publish     clients may publish (else error 103)\n"
           "  --allow-anonymous on|off   connect without a token (default on)\n"
           "  --token-hmac-secret S      accept HS256 connection tokens signed with S\n"
           "  --history-size N           publications kept per channel for history and\n"
           "                             recovery (default 0: none)\n"
           "  --history-ttl SECONDS      how long they are kept (default 300)\n"
           "  --ping-interval SECONDS    server ping {} interval; no pong by the next ping\n"
           "                             closes with 3012 (default 25, 0: none)\n"
           "  --max-channels-per-connection N  (default 128; more: error 106)\n"
           "  --max-channels N           channels on the node (default 1000000; error 106)\n"
           "                             A subscriber whose queue is over --max-queued-bytes\n"
           "                             when a publication comes is closed with 3008 (slow);\n"
           "                             it reconnects and recovers from history\n"
           "  --max-message-bytes N      largest message accepted (default 16777216)\n"
           "  --max-connections N        per process; more get 503 (default 100000)\n"
           "  --idle-timeout SECONDS     ping after half, close 1001 after all (default 60)\n"
           "  --handshake-timeout SECONDS  complete request head within (default 10)\n"
           "  --max-handshakes N         connections still sending their request head, per\n"
           "                             process, within --max-connections (default a quarter\n"
           "                             of it). At it or at --max-connections, a new\n"
           "                             connection takes the place of an older handshake,\n"
           "                             which gets 408: first one that sent part of a head\n"
           "                             and stalled, else the oldest silent one (after 50 ms);\n"
           "                             with none, the newcomer's head must be complete within\n"
           "                             100-200 ms (it then needs no handshake slot), else\n"
           "                             503. Established connections are never displaced\n"
           "  --max-handshakes-per-ip N  handshakes in progress per client address (IPv6: per\n"
           "                             /64), shared out among the loops; more get 429\n"
           "                             (default a quarter of --max-handshakes; not applied\n"
           "                             with --direct-descriptors)\n"
           "  --busy-handshake-timeout SECONDS  once over half of --max-handshakes are in\n"
           "                             progress, heads must complete within this; older\n"
           "                             ones are dropped oldest first (408), refused\n"
           "                             connections linger at most this long (default 2)\n"
           "  --close-timeout SECONDS    wait for the peer's close (default 5)\n"
           "  --memory-release-delay SECONDS  once a loop's connections and queued output\n"
           "                             fell to half of their peak, free memory goes back\n"
           "                             to the OS this long after (default 5)\n"
           "  --max-request-bytes N      largest plain HTTP request body (Content-Length;\n"
           "                             default 1048576): larger gets 413, chunked 411\n"
           "  --max-queued-bytes N       per-connection output cap (default 1048576): above it\n"
           "                             reading pauses, and input already received waits\n"
           "                             unprocessed (never dropped) until the queue is under\n"
           "                             N/2. Checked per receive and per HTTP request, so a\n"
           "                             queue never holds more than N + one receive buffer's\n"
           "                             echo (compressed: its re-compressed echo) or N + one\n"
           "                             HTTP response, on both backends\n"
           "  --recv-buffers N           io_uring provided buffers per loop, power of two "
           "(default 1024)\n"
           "  --recv-buffer-bytes N      size of each receive buffer (default 16384)\n"
           "  --trace                    log handshake bytes (CR as \u240D, LF as \u240A)\n"
           "  --io-stats                 at exit, each loop prints its system calls, io_uring\n"
           "                             submissions and completions, and per message\n"
           "  --direct-descriptors       io_uring: accept into a registered file table; each\n"
           "                             loop then holds up to RLIMIT_NOFILE connections\n"
           "                             without using process descriptors\n"
           "  --zero-copy-min-bytes N    io_uring: echo pieces of N bytes or more straight\n"
           "                             from the receive buffer, without a copy (default\n"
           "                             8192; 64 KiB echo: -14% server CPU, 1 KiB: no gain)\n"
           "  --deflate on|off           permessage-deflate (RFC 7692) (default on)\n"
           "  --deflate-window-bits N    window the server compresses with, 9..15 (default 15)\n"
           "  --deflate-client-window-bits N  largest window a client may use, 8..15; below\n"
           "                             15 only clients offering client_max_window_bits are\n"
           "                             accepted (default 15)\n"
           "  --deflate-no-context-takeover both|server|client|none  which side resets its\n"
           "                             window after each message; with both, idle\n"
           "                             connections hold no zlib memory (default both)\n"
           "  --deflate-level N          zlib level 0..9 (default 3)\n"
           "  --deflate-mem-level N      zlib memLevel 1..9 (default 8)\n"
           "  --deflate-min-bytes N      messages shorter than this are sent uncompressed "
           "(default 128)\n"
           "  --deflate-max-ratio N      close 1008 on an incoming message whose inflating costs\n"
           "                             more than N times its compressed size, checked once it\n"
           "                             passed 1 MiB (default 256; DEFLATE reaches ~1030 on\n"
           "                             zeros, text 3-30; 0: off). --max-message-bytes bounds\n"
           "                             a compressed message both as sent and as inflated (1009)\n"
           "  --deflate-max-streams N    zlib streams (~260 KiB each at the defaults) each loop's\n"
           "                             connections may hold at once: messages in flight and\n"
           "                             context-takeover windows; beyond it a new compressed\n"
           "                             message is closed 1013 (try again later) and replies go\n"
           "                             uncompressed; refusals are logged with their count\n"
           "                             (default 0: 1/8 of physical memory over all loops)\n"
           "  --features                 print the io_uring features this kernel offers\n"
           "                             (probed; the backend uses them) and exit\n"
           "  --version                  print the version, kernel and io_uring features\n"
           "  --help                     this text\n";
}

std::string parse_config(int argc, const char* const* argv, Config* config) {
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        std::string_view value;
        size_t eq = flag.find('=');
        bool has_inline = flag.starts_with("--") && eq != std::string_view::npos;
        if (has_inline) {
            value = flag.substr(eq + 1);
            flag = flag.substr(0, eq);
        }
        if (flag == "--help" || flag == "-h") {
            config->help = true;
            continue;
        }
        if (flag == "--version") {
            config->version = true;
            continue;
        }
        if (flag == "--features") {
            config->features = true;
            continue;
        }
        if (flag == "--trace") {
            config->trace = true;
            continue;
        }
        if (flag == "--io-stats") {
            config->io_stats = true;
            continue;
        }
        if (flag == "--allow-client-publish") {
            config->hub.allow_client_publish = true;
            continue;
        }
        if (flag == "--direct-descriptors") {
            config->direct_descriptors = true;
            continue;
        }
        // A value flag at the end of argv is only reported as missing its value once the
        // chain below has recognised it: an unknown last flag must say "unknown flag".
        bool missing = !has_inline && i + 1 >= argc;
        if (!has_inline && !missing) value = argv[++i];
        uint64_t n = 0;
        auto bad = [&] {
            if (missing) return "missing value for " + std::string(flag);
            return "bad value for " + std::string(flag) + ": " + std::string(value);
        };
        if (flag == "--listen") {
            if (missing) return bad();  // the only flag that takes any text, even empty
            config->listen.emplace_back(value);
        } else if (flag == "--threads") {
            if (!parse_u64(value, &n) || n == 0 || n > 1024) return bad();
            config->threads = static_cast<unsigned>(n);
        } else if (flag == "--workers") {
            if (!parse_u64(value, &n) || n == 0 || n > 256) return bad();
            config->workers = static_cast<unsigned>(n);
        } else if (flag == "--backend") {
            if (!io::parse_backend_kind(value, &config->backend)) return bad();
        } else if (flag == "--mode") {
            if (value == "echo") {
                config->mode = Mode::echo;
            } else if (value == "pubsub") {
                config->mode = Mode::pubsub;
            } else {
                return bad();
            }
        } else if (flag == "--api-key") {
            if (missing || value.empty()) return bad();
            config->hub.api_key = value;
        } else if (flag == "--token-hmac-secret") {
            if (missing || value.empty()) return bad();
            config->hub.token_hmac_secret = value;
        } else if (flag == "--allow-anonymous") {
            if (value != "on" && value != "off") return bad();
            config->hub.allow_anonymous = value == "on";
        } else if (flag == "--history-size") {
            if (!parse_u64(value, &n) || n > 1000000) return bad();
            config->hub.history_size = static_cast<uint32_t>(n);
        } else if (flag == "--history-ttl") {
            if (!parse_u64(value, &n) || n == 0 || n > 365 * 86400) return bad();
            config->hub.history_ttl_s = static_cast<uint32_t>(n);
        } else if (flag == "--ping-interval") {
            if (!parse_u64(value, &n) || n > 3600) return bad();
            config->hub.ping_interval_s = static_cast<uint32_t>(n);
        } else if (flag == "--max-channels-per-connection") {
            if (!parse_u64(value, &n) || n == 0 || n > UINT32_MAX) return bad();
            config->hub.max_channels_per_connection = static_cast<uint32_t>(n);
        } else if (flag == "--max-channels") {
            if (!parse_u64(value, &n) || n == 0) return bad();
            config->hub.max_channels = n;
        } else if (flag == "--max-message-bytes") {
            if (!parse_u64(value, &n)) return bad();
            config->max_message_bytes = n;
        } else if (flag == "--max-connections") {
            if (!parse_u64(value, &n) || n == 0 || n > UINT32_MAX / 2) return bad();
            config->max_connections = static_cast<uint32_t>(n);
        } else if (flag == "--idle-timeout") {
            if (!parse_seconds(value, &config->idle_timeout_s)) return bad();
        } else if (flag == "--max-handshakes") {
            if (!parse_u64(value, &n) || n == 0 || n > UINT32_MAX / 2) return bad();
            config->max_handshakes = static_cast<uint32_t>(n);
        } else if (flag == "--max-handshakes-per-ip") {
            if (!parse_u64(value, &n) || n == 0 || n > UINT32_MAX / 2) return bad();
            config->max_handshakes_per_ip = static_cast<uint32_t>(n);
        } else if (flag == "--busy-handshake-timeout") {
            if (!parse_seconds(value, &config->busy_handshake_timeout_s)) return bad();
        } else if (flag == "--handshake-timeout") {
            if (!parse_seconds(value, &config->handshake_timeout_s)) return bad();
        } else if (flag == "--close-timeout") {
            if (!parse_seconds(value, &config->close_timeout_s)) return bad();
        } else if (flag == "--memory-release-delay") {
            if (!parse_seconds(value, &config->memory_release_delay_s)) return bad();
        } else if (flag == "--max-request-bytes") {
            if (!parse_u64(value, &n)) return bad();
            config->max_request_bytes = n;
        } else if (flag == "--max-queued-bytes") {
            if (!parse_u64(value, &n) || n == 0) return bad();
            config->max_queued_bytes = n;
        } else if (flag == "--recv-buffers") {
            if (!parse_u64(value, &n) || n == 0 || n > kMaxRecvBuffers || (n & (n - 1)) != 0) {
                return bad();
            }
            config->recv_buffers = static_cast<uint32_t>(n);
        } else if (flag == "--recv-buffer-bytes") {
            if (!parse_u64(value, &n) || n < 256 || n > (1u << 20)) return bad();
            config->recv_buffer_bytes = static_cast<uint32_t>(n);
        } else if (flag == "--zero-copy-min-bytes") {
            if (!parse_u64(value, &n)) return bad();
            config->zero_copy_min_bytes = n;
        } else if (flag == "--deflate") {
            if (value != "on" && value != "off") return bad();
            config->deflate.enabled = value == "on";
        } else if (flag == "--deflate-window-bits") {
            // zlib cannot compress raw deflate with an 8-bit window.
            if (!parse_u64(value, &n) || n < proto::kMinZlibWindowBits || n > proto::kMaxWindowBits)
                return bad();
            config->deflate.server_max_window_bits = static_cast<uint8_t>(n);
        } else if (flag == "--deflate-client-window-bits") {
            if (!parse_u64(value, &n) || n < proto::kMinWindowBits || n > proto::kMaxWindowBits)
                return bad();
            config->deflate.client_max_window_bits = static_cast<uint8_t>(n);
        } else if (flag == "--deflate-no-context-takeover") {
            if (value != "both" && value != "server" && value != "client" && value != "none")
                return bad();
            config->deflate.server_no_context_takeover = value == "both" || value == "server";
            config->deflate.client_no_context_takeover = value == "both" || value == "client";
        } else if (flag == "--deflate-level") {
            if (!parse_u64(value, &n) || n > kMaxDeflateLevel) return bad();
            config->deflate.level = static_cast<int8_t>(n);
        } else if (flag == "--deflate-mem-level") {
            if (!parse_u64(value, &n) || n < 1 || n > kMaxMemLevel) return bad();
            config->deflate.mem_level = static_cast<uint8_t>(n);
        } else if (flag == "--deflate-max-ratio") {
            if (!parse_u64(value, &n) || n > UINT32_MAX) return bad();
            config->deflate.max_inflate_ratio = static_cast<uint32_t>(n);
        } else if (flag == "--deflate-max-streams") {
            if (!parse_u64(value, &n)) return bad();
            config->deflate_max_streams = n;
        } else if (flag == "--deflate-min-bytes") {
            if (!parse_u64(value, &n)) return bad();
            config->deflate.min_message_bytes = static_cast<size_t>(n);
        } else {
            return "unknown flag " + std::string(flag) + " (see --help)";
        }
    }
    // Worker processes share no memory: each would be a hub of its own, and a
    // publication would reach only the subscribers of the process that took it.
    if (config->mode == Mode::pubsub && config->workers > 1) {
        return "--workers > 1 is not available with --mode pubsub (use --threads: the loops of "
               "one process share the hub)";
    }
    return {};
}

uint32_t resolved_max_handshakes(const Config& config) {
    uint32_t n = config.max_handshakes != 0 ? config.max_handshakes : config.max_connections / 4;
    return std::clamp<uint32_t>(n, 1, config.max_connections);
}

uint32_t resolved_max_handshakes_per_ip(const Config& config) {
    if (config.max_handshakes_per_ip != 0) return config.max_handshakes_per_ip;
    return std::max<uint32_t>(1, resolved_max_handshakes(config) / 4);
}

}  // namespace wsgate::gateway
