#include "options.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace wsgate::bench {
namespace {

constexpr const char* kUsage =
    "usage: wsload [options]\n"
    "  --url ws://127.0.0.1:8080/     target (loopback only; tcp://HOST:PORT for --mode raw;\n"
    "                                 wss://HOST:PORT/PATH for TLS)\n"
    "  --tls                          TLS to the target (as wss:// does)\n"
    "  --tls-ca FILE                  verify the server's certificate against this CA (PEM)\n"
    "  --tls-insecure                 do not verify the server's certificate\n"
    "  --tls-resume                   resume the newest TLS session on every new connection\n"
    "                                 (tickets; connect mode: resumed handshakes)\n"
    "  --mode echo|idle|raw|connect|pubsub  workload (default echo)\n"
    "  -c, --connections N            connections (default 100)\n"
    "  -s, --payload BYTES            message size (default 16)\n"
    "  -d, --in-flight D              messages outstanding per connection (default 1, max 64)\n"
    "  --text | --binary              message type (default binary)\n"
    "  --payload-kind random|json     message content: random bytes (default) or JSON-like\n"
    "                                 records that compress well\n"
    "  --deflate                      offer permessage-deflate (client_max_window_bits); compress\n"
    "                                 every message, inflate and verify compressed echoes\n"
    "  --deflate-params 'P; P'        extra offer parameters: server_no_context_takeover,\n"
    "                                 client_no_context_takeover, server_max_window_bits=N,\n"
    "                                 client_max_window_bits=N (implies --deflate)\n"
    "  --idle-message                 idle mode: one message per connection after its handshake\n"
    "  --close-early                  connect mode: close right after the server's close frame,\n"
    "                                 without waiting for its FIN\n"
    "  -t, --duration SECONDS         measured (or idle hold) time (default 5)\n"
    "  --warmup SECONDS               unmeasured time before (default 1)\n"
    "  --connect-timeout SECONDS      bound on bringing connections up (default 30)\n"
    "  --concurrency N                handshakes in progress at once (default 512)\n"
    "  --ping-interval SECONDS        idle mode: ping period per connection (default 10)\n"
    "  --workers N                    worker processes (default: as few as the fd limit allows)\n"
    "  --sources N                    source addresses 127.0.0.1.. (default: enough for N)\n"
    "  --json FILE                    write results as JSON\n"
    "  --ready-file FILE              idle: create FILE when all connections are up\n"
    "  --label TEXT                   copied into the JSON\n"
    "  --server-pid PID               report the server's CPU time in the window and its RSS\n"
    "  --no-progress                  no per-second line on stderr\n"
    "pubsub mode (Centrifugo JSON protocol; --url ws://HOST:PORT/connection/websocket):\n"
    "  -c N subscribers; -s BYTES publication data size; -d D closed-loop publications\n"
    "  in flight per publisher\n"
    "  --publishers P                 publishers (default 1; 0: subscribers only, e.g. memory)\n"
    "  --remote-publishers P          subscribers also take publications stamped by P publishers\n"
    "                                 of another wsload (cluster nodes; pair with --publishers 0)\n"
    "  --channels K                   channels bench.0..bench.K-1 (default 1); subscriber i\n"
    "                                 takes bench.(i mod K); publishers cycle over all\n"
    "  --subscriptions M              channels per subscriber, i..i+M-1 mod K (default 1)\n"
    "  --publish-via http|ws          server API POST /api/publish (default) or client publish\n"
    "  --api-key KEY                  X-API-Key for --publish-via http\n"
    "  --rate R                       open loop: R publications/s in all (default 0: closed)\n"
    "  --drain SECONDS                after the run, wait this long for the last deliveries\n"
    "                                 (default 2)\n";

bool parse_number(const char* text, double& out) {
    char* end = nullptr;
    out = std::strtod(text, &end);
    return end != text && *end == '\0' && out >= 0;
}

bool parse_count(const char* text, std::uint32_t& out, std::uint32_t max) {
    double v = 0;
    if (!parse_number(text, v) || v > max ||
        v != static_cast<double>(static_cast<std::uint64_t>(v)))
        return false;
    out = static_cast<std::uint32_t>(v);
    return true;
}

// Accepts ws://HOST:PORT/PATH, wss://HOST:PORT/PATH or tcp://HOST:PORT with HOST in 127.0.0.0/8 or
// "localhost": a load generator must never point at another machine.
bool parse_url(std::string_view url, Options& o) {
    std::string_view rest;
    if (url.starts_with("ws://")) {
        rest = url.substr(5);
    } else if (url.starts_with("wss://")) {
        rest = url.substr(6);
        o.tls = true;
    } else if (url.starts_with("tcp://")) {
        rest = url.substr(6);
    } else {
        return false;
    }
    const std::size_t slash = rest.find('/');
    const std::string_view authority = rest.substr(0, slash);
    o.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    const std::size_t colon = authority.rfind(':');
    if (colon == std::string_view::npos) return false;
    std::string host(authority.substr(0, colon));
    const std::string port(authority.substr(colon + 1));
    o.server_name = host;  // TLS: SNI and the name the certificate must carry
    if (host == "localhost") host = "127.0.0.1";
    in_addr addr{};
    if (inet_pton(AF_INET, host.c_str(), &addr) != 1) {
        std::fprintf(stderr, "wsload: target host must be an IPv4 loopback address\n");
        return false;
    }
    o.target_ip = ntohl(addr.s_addr);
    constexpr std::uint32_t kLoopbackNet = 0x7F000000, kLoopbackMask = 0xFF000000;
    if ((o.target_ip & kLoopbackMask) != kLoopbackNet) {
        std::fprintf(stderr, "wsload: refusing non-loopback target %s\n", host.c_str());
        return false;
    }
    std::uint32_t p = 0;
    if (!parse_count(port.c_str(), p, 65535) || p == 0) return false;
    o.target_port = static_cast<std::uint16_t>(p);
    o.host_header = std::string(authority);
    return true;
}

}  // namespace

const char* payload_kind_name(PayloadKind kind) {
    return kind == PayloadKind::kJson ? "json" : "random";
}

const char* publish_via_name(PublishVia via) {
    return via == PublishVia::kWebSocket ? "ws" : "http";
}

const char* mode_name(Mode mode) {
    switch (mode) {
        case Mode::kEcho:
            return "echo";
        case Mode::kIdle:
            return "idle";
        case Mode::kRaw:
            return "raw";
        case Mode::kConnect:
            return "connect";
        case Mode::kPubsub:
            return "pubsub";
    }
    return "?";
}

std::optional<Options> parse_options(int argc, char** argv) {
    Options o;
    auto fail = [](const char* what, const char* value) -> std::optional<Options> {
        std::fprintf(stderr, "wsload: bad %s '%s'\n%s", what, value ? value : "", kUsage);
        return std::nullopt;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        auto take = [&]() {
            ++i;
            return v;
        };
        double d = 0;
        if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        } else if (a == "--text") {
            o.binary = false;
        } else if (a == "--binary") {
            o.binary = true;
        } else if (a == "--no-progress") {
            o.progress = false;
        } else if (a == "--deflate") {
            o.deflate = true;
        } else if (a == "--idle-message") {
            o.idle_message = true;
        } else if (a == "--close-early") {
            o.close_early = true;
        } else if (a == "--tls") {
            o.tls = true;
        } else if (a == "--tls-insecure") {
            o.tls_insecure = true;
        } else if (a == "--tls-resume") {
            o.tls_resume = true;
        } else if (v == nullptr) {
            return fail("option (missing value?)", argv[i]);
        } else if (a == "--url") {
            if (!parse_url(take(), o)) return fail("url", v);
        } else if (a == "--payload-kind") {
            const std::string_view k = take();
            if (k == "random")
                o.payload_kind = PayloadKind::kRandom;
            else if (k == "json")
                o.payload_kind = PayloadKind::kJson;
            else
                return fail("payload-kind", v);
        } else if (a == "--deflate-params") {
            if (!parse_deflate_params(take(), o.deflate_offer)) return fail("deflate-params", v);
            o.deflate = true;
        } else if (a == "--mode") {
            const std::string_view m = take();
            if (m == "echo")
                o.mode = Mode::kEcho;
            else if (m == "idle")
                o.mode = Mode::kIdle;
            else if (m == "raw")
                o.mode = Mode::kRaw;
            else if (m == "connect")
                o.mode = Mode::kConnect;
            else if (m == "pubsub")
                o.mode = Mode::kPubsub;
            else
                return fail("mode", v);
        } else if (a == "-c" || a == "--connections") {
            if (!parse_count(take(), o.connections, kMaxConnections) || o.connections == 0)
                return fail("connections", v);
        } else if (a == "-s" || a == "--payload") {
            if (!parse_count(take(), o.payload_bytes, kMaxPayload)) return fail("payload", v);
        } else if (a == "-d" || a == "--in-flight") {
            if (!parse_count(take(), o.in_flight, kMaxInFlight) || o.in_flight == 0)
                return fail("in-flight", v);
        } else if (a == "-t" || a == "--duration") {
            if (!parse_number(take(), d) || d > kMaxDurationS) return fail("duration", v);
            o.duration_s = d;
        } else if (a == "--warmup") {
            if (!parse_number(take(), d) || d > kMaxDurationS) return fail("warmup", v);
            o.warmup_s = d;
        } else if (a == "--connect-timeout") {
            if (!parse_number(take(), d) || d > kMaxDurationS) return fail("connect-timeout", v);
            o.connect_timeout_s = d;
        } else if (a == "--ping-interval") {
            if (!parse_number(take(), d) || d < 0.01 || d > kMaxDurationS)
                return fail("ping-interval", v);
            o.ping_interval_s = d;
        } else if (a == "--concurrency") {
            if (!parse_count(take(), o.connect_concurrency, kMaxConnections) ||
                o.connect_concurrency == 0)
                return fail("concurrency", v);
        } else if (a == "--workers") {
            if (!parse_count(take(), o.workers, 256)) return fail("workers", v);
        } else if (a == "--sources") {
            if (!parse_count(take(), o.sources, 250 * 250)) return fail("sources", v);
        } else if (a == "--remote-publishers") {
            if (!parse_count(take(), o.remote_publishers, kMaxPublishers))
                return fail("remote-publishers", v);
        } else if (a == "--publishers") {
            if (!parse_count(take(), o.publishers, kMaxPublishers)) return fail("publishers", v);
        } else if (a == "--channels") {
            if (!parse_count(take(), o.channels, kMaxChannels) || o.channels == 0)
                return fail("channels", v);
        } else if (a == "--subscriptions") {
            if (!parse_count(take(), o.subscriptions, kMaxSubscriptions) || o.subscriptions == 0)
                return fail("subscriptions", v);
        } else if (a == "--publish-via") {
            const std::string_view k = take();
            if (k == "http")
                o.publish_via = PublishVia::kHttpApi;
            else if (k == "ws")
                o.publish_via = PublishVia::kWebSocket;
            else
                return fail("publish-via", v);
        } else if (a == "--api-key") {
            o.api_key = take();
        } else if (a == "--rate") {
            if (!parse_number(take(), d) || d > 1e8) return fail("rate", v);
            o.publish_rate = d;
        } else if (a == "--drain") {
            if (!parse_number(take(), d) || d > kMaxDurationS) return fail("drain", v);
            o.drain_s = d;
        } else if (a == "--json") {
            o.json_path = take();
        } else if (a == "--ready-file") {
            o.ready_file = take();
        } else if (a == "--server-pid") {
            std::uint32_t pid = 0;
            if (!parse_count(take(), pid, 1u << 30) || pid == 0) return fail("server-pid", v);
            o.server_pid = static_cast<int>(pid);
        } else if (a == "--tls-ca") {
            o.tls_ca = take();
        } else if (a == "--label") {
            o.label = take();
        } else {
            return fail("option", argv[i]);
        }
    }
    if (o.mode == Mode::kPubsub && o.subscriptions > o.channels)
        return fail("subscriptions (more than --channels)",
                    std::to_string(o.subscriptions).c_str());
    if (o.tls_insecure || o.tls_resume || !o.tls_ca.empty()) o.tls = true;
    if (o.tls && o.mode == Mode::kPubsub)
        return fail("mode (TLS is not there for pubsub)", "pubsub");
    if (o.tls && o.tls_ca.empty() && !o.tls_insecure)
        return fail("TLS options (give --tls-ca FILE or --tls-insecure)", "");
    return o;
}

}  // namespace wsgate::bench
