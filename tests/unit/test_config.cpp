#include <gtest/gtest.h>

#include <vector>

#include "gateway/config.hpp"
#include "gateway/deflate_budget.hpp"
#include "io/listener.hpp"

using wsgate::gateway::Config;
using wsgate::gateway::parse_config;

namespace {
std::string parse(std::vector<const char*> args, Config* c) {
    args.insert(args.begin(), "wsgate");
    return parse_config(static_cast<int>(args.size()), args.data(), c);
}
}  // namespace

TEST(Config, Defaults) {
    Config c;
    EXPECT_EQ(parse({}, &c), "");
    EXPECT_EQ(c.listen,
              std::vector<std::string>{"0.0.0.0:8080"});  // the first --listen replaces it
    EXPECT_EQ(c.max_message_bytes, 16u * 1024 * 1024);
    EXPECT_EQ(c.max_connections, 100000u);
    EXPECT_EQ(c.idle_timeout_s, 60);
    EXPECT_EQ(c.handshake_timeout_s, 10);
    EXPECT_EQ(c.close_timeout_s, 5);
    EXPECT_EQ(c.backend, wsgate::io::BackendKind::auto_select);
}

TEST(Config, ParsesEveryFlag) {
    Config c;
    EXPECT_EQ(parse({"--listen",
                     "127.0.0.1:1",
                     "--listen=[::1]:2",
                     "--threads",
                     "3",
                     "--backend",
                     "epoll",
                     "--mode",
                     "echo",
                     "--max-message-bytes",
                     "5",
                     "--max-connections",
                     "7",
                     "--idle-timeout",
                     "0.5",
                     "--handshake-timeout=2",
                     "--close-timeout",
                     "1.25",
                     "--trace",
                     "--recv-buffers",
                     "64",
                     "--max-queued-bytes",
                     "9"},
                    &c),
              "");
    ASSERT_EQ(c.listen.size(), 2u);
    EXPECT_EQ(c.listen[1], "[::1]:2");
    EXPECT_EQ(c.threads, 3u);
    EXPECT_EQ(c.backend, wsgate::io::BackendKind::epoll);
    EXPECT_EQ(c.max_message_bytes, 5u);
    EXPECT_EQ(c.max_connections, 7u);
    EXPECT_DOUBLE_EQ(c.idle_timeout_s, 0.5);
    EXPECT_DOUBLE_EQ(c.handshake_timeout_s, 2);
    EXPECT_DOUBLE_EQ(c.close_timeout_s, 1.25);
    EXPECT_TRUE(c.trace);
    EXPECT_EQ(c.recv_buffers, 64u);
    EXPECT_EQ(c.max_queued_bytes, 9u);
    EXPECT_FALSE(c.direct_descriptors);
    EXPECT_EQ(parse({"--workers", "4", "--direct-descriptors"}, &c), "");
    EXPECT_EQ(c.workers, 4u);
    EXPECT_TRUE(c.direct_descriptors);
    EXPECT_NE(parse({"--workers", "0"}, &c), "");
}

TEST(Config, RejectsBadValues) {
    Config c;
    EXPECT_NE(parse({"--threads", "0"}, &c), "");
    EXPECT_NE(parse({"--backend", "kqueue"}, &c), "");
    EXPECT_NE(parse({"--idle-timeout", "-1"}, &c), "");
    EXPECT_NE(parse({"--idle-timeout", "abc"}, &c), "");
    EXPECT_NE(parse({"--recv-buffers", "100"}, &c), "");  // not a power of two
    EXPECT_EQ(parse({"--mode", "relay"}, &c), "bad value for --mode: relay");
    EXPECT_EQ(parse({"--mode", "proxy"}, &c),
              "--mode proxy needs at least one --route PREFIX=POOL");
    EXPECT_NE(parse({"--allow-anonymous", "yes"}, &c), "");
    EXPECT_NE(parse({"--max-channels-per-connection", "0"}, &c), "");
    EXPECT_NE(parse({"--bogus"}, &c), "");
    EXPECT_NE(parse({"--listen"}, &c), "");
}

TEST(Config, PubSubFlags) {
    Config c;
    EXPECT_EQ(
        parse({"--mode", "pubsub", "--api-key", "k", "--allow-client-publish", "--allow-anonymous",
               "off", "--token-hmac-secret", "s", "--history-size", "10", "--history-ttl", "60",
               "--ping-interval", "3", "--max-channels-per-connection", "4", "--max-channels", "5"},
              &c),
        "");
    EXPECT_EQ(c.mode, wsgate::gateway::Mode::pubsub);
    EXPECT_EQ(c.hub.api_key, "k");
    EXPECT_TRUE(c.hub.allow_client_publish);
    EXPECT_FALSE(c.hub.allow_anonymous);
    EXPECT_EQ(c.hub.token_hmac_secret, "s");
    EXPECT_EQ(c.hub.history_size, 10u);
    EXPECT_EQ(c.hub.history_ttl_s, 60u);
    EXPECT_EQ(c.hub.ping_interval_s, 3u);
    EXPECT_EQ(c.hub.max_channels_per_connection, 4u);
    EXPECT_EQ(c.hub.max_channels, 5u);
    Config w;
    EXPECT_NE(parse({"--mode", "pubsub", "--workers", "2"}, &w), "");
}

TEST(Config, UnknownLastFlagIsReportedAsUnknown) {
    Config c;
    EXPECT_EQ(parse({"--no-such-flag"}, &c), "unknown flag --no-such-flag (see --help)");
    EXPECT_EQ(parse({"--threads", "2", "--no-such-flag"}, &c),
              "unknown flag --no-such-flag (see --help)");
    EXPECT_EQ(parse({"--no-such-flag=1"}, &c), "unknown flag --no-such-flag (see --help)");
}

// Every flag the help text shows with a value ("  --threads N") reports a missing value
// when it ends argv, so the check cannot drift from the flags the parser knows.
TEST(Config, EveryValueFlagAtTheEndReportsMissingValue) {
    std::string help = wsgate::gateway::config_help();
    size_t checked = 0;
    size_t pos = 0;
    while ((pos = help.find("\n  --", pos)) != std::string::npos) {
        size_t start = pos + 3;
        size_t end = help.find(' ', start);
        ASSERT_NE(end, std::string::npos);
        pos = end;
        bool takes_value = end + 1 < help.size() && help[end + 1] != ' ';
        if (!takes_value) continue;
        std::string flag = help.substr(start, end - start);
        Config c;
        EXPECT_EQ(parse({flag.c_str()}, &c), "missing value for " + flag);
        ++checked;
    }
    EXPECT_GE(checked, 20u);  // the help lists over twenty value flags
}

TEST(Endpoint, ParsesAndFormatsV4AndV6) {
    auto v4 = wsgate::io::parse_endpoint("127.0.0.1:8080");
    ASSERT_TRUE(v4);
    EXPECT_EQ(wsgate::io::format_endpoint(*v4), "127.0.0.1:8080");
    auto v6 = wsgate::io::parse_endpoint("[::1]:9");
    ASSERT_TRUE(v6);
    EXPECT_EQ(wsgate::io::format_endpoint(*v6), "[::1]:9");
    EXPECT_FALSE(wsgate::io::parse_endpoint("localhost:80"));
    EXPECT_FALSE(wsgate::io::parse_endpoint("1.2.3.4"));
    EXPECT_FALSE(wsgate::io::parse_endpoint("1.2.3.4:70000"));
    EXPECT_FALSE(wsgate::io::parse_endpoint("[::1:80"));
}

namespace wsgate::gateway {
namespace {

TEST(Config, DeflateWorkAndMemoryBounds) {
    Config c;
    EXPECT_EQ(parse({}, &c), "");
    EXPECT_EQ(c.deflate.max_inflate_ratio, proto::kDefaultMaxInflateRatio);
    EXPECT_EQ(c.deflate_max_streams, 0u);  // derived from memory
    EXPECT_EQ(parse({"--deflate-max-ratio", "0", "--deflate-max-streams", "40"}, &c), "");
    EXPECT_EQ(c.deflate.max_inflate_ratio, 0u);
    EXPECT_EQ(c.deflate_max_streams, 40u);
    EXPECT_NE(parse({"--deflate-max-ratio", "-1"}, &c), "");
    EXPECT_NE(parse({"--deflate-max-ratio", "4294967296"}, &c), "");
    EXPECT_NE(parse({"--deflate-max-streams", "x"}, &c), "");
    EXPECT_NE(config_help().find("--deflate-max-streams"), std::string::npos);
    EXPECT_NE(config_help().find("--deflate-max-ratio"), std::string::npos);
}

TEST(DeflateBudget, AnEighthOfMemoryOverTheLoops) {
    // 8 GiB, 4 loops, 256 KiB streams: 1 GiB / 4 / 256 KiB.
    EXPECT_EQ(streams_per_loop(8ull << 30, 4, 256 << 10), 1024u);
    EXPECT_EQ(streams_per_loop(64ull << 20, 4, 256 << 10), kMinStreamsPerLoop);
    EXPECT_EQ(streams_per_loop(0, 4, 256 << 10), kMinStreamsPerLoop);  // unknown memory
    // The defaults' deflate stream (15-bit window, memLevel 8) is ~260 KiB.
    const uint64_t bytes = deflate_stream_bytes(default_deflate_config());
    EXPECT_GT(bytes, 200u << 10);
    EXPECT_LT(bytes, 400u << 10);
    EXPECT_GT(physical_memory_bytes(), 0u);
}

}  // namespace
}  // namespace wsgate::gateway

TEST(Config, HandshakeLimitsParseAndDefaultToFractions) {
    Config c;
    EXPECT_EQ(parse({"--max-connections", "1000"}, &c), "");
    EXPECT_EQ(wsgate::gateway::resolved_max_handshakes(c), 250u);
    EXPECT_EQ(wsgate::gateway::resolved_max_handshakes_per_ip(c), 62u);
    EXPECT_DOUBLE_EQ(c.busy_handshake_timeout_s, 2);
    EXPECT_EQ(parse({"--max-handshakes", "40", "--max-handshakes-per-ip=3",
                     "--busy-handshake-timeout", "0.5"},
                    &c),
              "");
    EXPECT_EQ(wsgate::gateway::resolved_max_handshakes(c), 40u);
    EXPECT_EQ(wsgate::gateway::resolved_max_handshakes_per_ip(c), 3u);
    EXPECT_DOUBLE_EQ(c.busy_handshake_timeout_s, 0.5);
    // Never more handshakes than connections, never none.
    Config small;
    EXPECT_EQ(parse({"--max-connections", "2", "--max-handshakes", "9"}, &small), "");
    EXPECT_EQ(wsgate::gateway::resolved_max_handshakes(small), 2u);
    EXPECT_EQ(parse({"--max-handshakes", "1"}, &small), "");
    EXPECT_EQ(wsgate::gateway::resolved_max_handshakes_per_ip(small), 1u);
    EXPECT_NE(parse({"--max-handshakes", "0"}, &c), "");
    EXPECT_NE(parse({"--max-handshakes-per-ip", "0"}, &c), "");
    EXPECT_NE(parse({"--busy-handshake-timeout", "0"}, &c), "");
}
