#pragma once
// wsload's command line: one struct with every default in one place.

#include <cstdint>
#include <optional>
#include <string>

#include "deflate_client.hpp"

namespace wsgate::bench {

enum class Mode { kEcho, kIdle, kRaw, kConnect, kPubsub };
enum class PublishVia { kWebSocket, kHttpApi };
enum class PayloadKind { kRandom, kJson };

struct Options {
    Mode mode = Mode::kEcho;
    // Target: IPv4 loopback only (refused otherwise), host order.
    std::uint32_t target_ip = 0x7F000001;
    std::uint16_t target_port = 8080;
    std::string host_header = "127.0.0.1:8080";
    std::string path = "/";
    // wss:// (or --tls): TLS over the same receive/send path; verified against
    // tls_ca unless tls_insecure; tls_resume offers the newest session on reconnects.
    bool tls = false;
    std::string tls_ca;
    bool tls_insecure = false;
    bool tls_resume = false;
    std::string server_name = "127.0.0.1";  // the URL's host as written

    std::uint32_t connections = 100;
    std::uint32_t payload_bytes = 16;
    std::uint32_t in_flight = 1;  // messages outstanding per connection (echo, raw)
    bool binary = true;
    PayloadKind payload_kind = PayloadKind::kRandom;
    // permessage-deflate (RFC 7692): offered only when set, so runs without it
    // stay comparable with earlier ones.
    bool deflate = false;
    DeflateOffer deflate_offer;
    // idle: each connection sends one message right after its handshake and counts
    // as up only once the echo is verified (the memory a used connection keeps).
    bool idle_message = false;
    // connect: close the socket as soon as the server's close frame is in,
    // without waiting for its FIN (as browsers may), so the server's
    // half-close can still be on its way when the next connection arrives.
    bool close_early = false;
    double duration_s = 5.0;  // measured time (echo, raw, connect) or hold time (idle)
    double warmup_s = 1.0;
    double connect_timeout_s = 30.0;          // bound on bringing all connections up
    double ping_interval_s = 10.0;            // idle: each connection pings this often
    std::uint32_t connect_concurrency = 512;  // handshakes in progress at once
    std::uint32_t workers = 0;                // 0: as few as the fd limit allows
    std::uint32_t sources = 0;                // source addresses 127.0.0.1..; 0: enough for N
    std::string json_path;
    std::string ready_file;  // idle: created once all connections are up (or given up)
    std::string label;
    int server_pid = 0;  // when set: report that process's CPU and RSS (/proc)

    // pubsub (Centrifugo JSON client protocol): `connections` subscribers, each
    // subscribed to `subscriptions` channels; `publishers` publishers cycling
    // over `channels` channels; payload_bytes is the size of each publication's
    // data. Closed loop: in_flight unanswered publications per publisher;
    // open loop (publish_rate > 0): that many publications per second in all.
    std::uint32_t publishers = 1;
    // Publishers of another wsload (another node of a cluster): this one's
    // subscribers accept their stamps 0..remote_publishers-1 too.
    std::uint32_t remote_publishers = 0;
    std::uint32_t stamp_publishers() const {
        return publishers > remote_publishers ? publishers : remote_publishers;
    }
    std::uint32_t channels = 1;
    std::uint32_t subscriptions = 1;
    PublishVia publish_via = PublishVia::kHttpApi;
    std::string api_key;
    double publish_rate = 0;
    double drain_s = 2.0;  // after publishing stops: how long deliveries may still come
    bool progress = true;
};

inline constexpr std::uint32_t kMaxInFlight = 64;
inline constexpr std::uint32_t kMaxConnections = 1'000'000;
inline constexpr std::uint32_t kMaxPayload = 16u << 20;
inline constexpr double kMaxDurationS = 3600;
inline constexpr std::uint32_t kMaxPublishers = 1024;
inline constexpr std::uint32_t kMaxChannels = 1'000'000;
inline constexpr std::uint32_t kMaxSubscriptions = 1024;

// Parses argv; prints usage or the reason to stderr and returns nullopt on error.
std::optional<Options> parse_options(int argc, char** argv);

const char* mode_name(Mode mode);
const char* payload_kind_name(PayloadKind kind);
const char* publish_via_name(PublishVia via);

}  // namespace wsgate::bench
