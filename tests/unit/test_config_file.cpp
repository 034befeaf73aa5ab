// The TOML configuration file: loading, errors with their positions, flags
// over a file, and the effective configuration printed back.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gateway/config.hpp"
#include "gateway/config_settings.hpp"

namespace wsgate::gateway {
namespace {

std::string parse(std::vector<const char*> args, Config* c) {
    args.insert(args.begin(), "wsgate");
    return parse_config(static_cast<int>(args.size()), args.data(), c);
}

std::string load(std::string_view toml, Config* c) {
    return load_config_text(toml, "gate.toml", c);
}

// A file holding `text`, removed when the test ends.
class TempFile {
  public:
    explicit TempFile(std::string_view text) {
        char name[] = "/tmp/wsgate-config-test.XXXXXX";
        int fd = mkstemp(name);
        EXPECT_GE(fd, 0);
        path_ = name;
        EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
        close(fd);
    }
    ~TempFile() { unlink(path_.c_str()); }
    const char* path() const { return path_.c_str(); }

  private:
    std::string path_;
};

TEST(ConfigFile, DefaultsRoundTrip) {
    Config defaults;
    std::string printed = format_config(defaults);
    std::string lines = "\n" + printed;
    Config loaded;
    loaded.listen.clear();
    ASSERT_EQ(load(printed, &loaded), "");
    EXPECT_EQ(format_config(loaded), printed);
    EXPECT_EQ(loaded.listen, defaults.listen);
    // Every setting a file may hold is printed, set or not.
    for (const Setting& s : settings()) {
        if (s.type == SettingType::command_line) continue;
        std::string key(s.name);
        EXPECT_TRUE(lines.find("\n" + key + " = ") != std::string::npos ||
                    lines.find("\n# " + key + " is not set") != std::string::npos)
            << key;
    }
    EXPECT_NE(printed.find("\nthreads = \"auto\"\n"), std::string::npos);
    EXPECT_NE(printed.find("\n# api-key is not set\n"), std::string::npos);
}

TEST(ConfigFile, EverySettingChangedRoundTrips) {
    Config c;
    ASSERT_EQ(parse({"--listen",
                     "127.0.0.1:1",
                     "--listen",
                     "[::1]:2,tls",
                     "--tls-cert",
                     "a.pem",
                     "--tls-key",
                     "a.key",
                     "--tls-cert",
                     "b.pem",
                     "--tls-key",
                     "b.key",
                     "--tls-ciphers",
                     "ECDHE-RSA-AES128-GCM-SHA256",
                     "--tls-ciphersuites",
                     "TLS_AES_256_GCM_SHA384",
                     "--tls-ticket-key-rotation",
                     "60",
                     "--tls-kernel",
                     "always",
                     "--admin-listen",
                     "127.0.0.1:9",
                     "--threads",
                     "3",
                     "--backend",
                     "epoll",
                     "--mode",
                     "pubsub",
                     "--api-key",
                     "k\"e\\y\n\x01",
                     "--allow-client-publish",
                     "--allow-anonymous",
                     "off",
                     "--token-hmac-secret",
                     "s\u00e9cret",
                     "--history-size",
                     "10",
                     "--history-ttl",
                     "60",
                     "--ping-interval",
                     "0",
                     "--max-channels-per-connection",
                     "4",
                     "--max-channels",
                     "5",
                     "--max-message-bytes",
                     "6",
                     "--max-connections",
                     "70",
                     "--idle-timeout",
                     "0.1",
                     "--handshake-timeout",
                     "1e-3",
                     "--max-handshakes",
                     "9",
                     "--max-handshakes-per-ip",
                     "2",
                     "--busy-handshake-timeout",
                     "1.5",
                     "--close-timeout",
                     "3",
                     "--drain-timeout",
                     "2.5",
                     "--upgrade-timeout",
                     "4.5",
                     "--memory-release-delay",
                     "7.25",
                     "--max-request-bytes",
                     "0",
                     "--max-queued-bytes",
                     "99",
                     "--recv-buffers",
                     "64",
                     "--recv-buffer-bytes",
                     "4096",
                     "--trace",
                     "--io-stats",
                     "--direct-descriptors",
                     "--zero-copy-min-bytes",
                     "1",
                     "--deflate",
                     "off",
                     "--deflate-window-bits",
                     "10",
                     "--deflate-client-window-bits",
                     "9",
                     "--deflate-no-context-takeover",
                     "client",
                     "--deflate-level",
                     "9",
                     "--deflate-mem-level",
                     "2",
                     "--deflate-min-bytes",
                     "0",
                     "--deflate-max-ratio",
                     "0",
                     "--deflate-max-streams",
                     "12",
                     "--token-rsa-public-key",
                     "/etc/wsgate/rsa.pem",
                     "--token-ecdsa-public-key",
                     "/etc/wsgate/ec.pem",
                     "--token-jwks-file",
                     "/etc/wsgate/keys.json",
                     "--allow-origin",
                     "https://*.example.com",
                     "--allow-origin",
                     "127.0.0.1:1=http://localhost:3000",
                     "--max-request-head-bytes",
                     "4096",
                     "--max-request-headers",
                     "20",
                     "--max-connections-per-ip",
                     "3",
                     "--connection-rate-per-ip",
                     "4",
                     "--connection-burst-per-ip",
                     "5",
                     "--ipv6-prefix-length",
                     "56",
                     "--max-messages-per-second",
                     "6",
                     "--message-burst",
                     "7",
                     "--max-bytes-per-second",
                     "8",
                     "--byte-burst",
                     "9",
                     "--namespace",
                     "chat,history_size=3,history_ttl=60,presence=true",
                     "--log-level",
                     "debug",
                     "--log-format",
                     "json"},
                    &c),
              "");
    std::string printed = format_config(c);
    EXPECT_EQ(printed.find(format_config(Config{})), std::string::npos);
    Config loaded;
    ASSERT_EQ(load(printed, &loaded), "") << printed;
    EXPECT_EQ(format_config(loaded), printed);
    EXPECT_EQ(loaded.listen, (std::vector<std::string>{"127.0.0.1:1", "[::1]:2,tls"}));
    tls::TlsSettings tls = tls_settings(loaded);
    ASSERT_EQ(tls.certificates.size(), 2u);
    EXPECT_EQ(tls.certificates[1].cert, "b.pem");
    EXPECT_EQ(tls.certificates[1].key, "b.key");
    EXPECT_EQ(tls.ciphersuites, "TLS_AES_256_GCM_SHA384");
    EXPECT_DOUBLE_EQ(tls.ticket_key_rotation_s, 60);
    EXPECT_EQ(loaded.admin_listen, "127.0.0.1:9");
    EXPECT_EQ(loaded.hub.api_key, "k\"e\\y\n\x01");
    EXPECT_EQ(loaded.hub.token_hmac_secret, "s\u00e9cret");
    EXPECT_DOUBLE_EQ(loaded.idle_timeout_s, 0.1);
    EXPECT_DOUBLE_EQ(loaded.handshake_timeout_s, 0.001);
    EXPECT_DOUBLE_EQ(loaded.memory_release_delay_s, 7.25);
    EXPECT_EQ(loaded.backend, io::BackendKind::epoll);
    EXPECT_TRUE(loaded.trace && loaded.io_stats && loaded.direct_descriptors);
    EXPECT_EQ(loaded.log_level, io::LogLevel::debug);
    EXPECT_EQ(loaded.log_format, io::LogFormat::json);
    EXPECT_FALSE(loaded.deflate.enabled);
    EXPECT_FALSE(loaded.deflate.server_no_context_takeover);
    EXPECT_TRUE(loaded.deflate.client_no_context_takeover);
    EXPECT_EQ(loaded.deflate.level, 9);
    EXPECT_EQ(loaded.deflate_max_streams, 12u);
    EXPECT_EQ(loaded.max_handshakes_per_ip, 2u);
    EXPECT_EQ(loaded.ipv6_prefix_length, 56u);
    EXPECT_EQ(
        loaded.allow_origins,
        (std::vector<std::string>{"https://*.example.com", "127.0.0.1:1=http://localhost:3000"}));
    // Every setting differs from its default, so every row's get and set were
    // used; but workers, which pub/sub refuses: it round-trips in echo mode,
    // and the proxy's, in ProxyKeysRoundTrip.
    const Config defaults;
    for (const Setting& s : settings()) {
        if (s.type == SettingType::command_line || s.name == "workers" || s.name == "upstream" ||
            s.name == "route" || s.name == "upstream-connect-timeout" || s.name == "balance" ||
            s.name == "hash-balance-factor" || s.name == "health-check" ||
            s.name.starts_with("upstream-") || s.name.starts_with("redis") || s.name == "engine") {
            continue;
        }
        EXPECT_NE(s.get(loaded), s.get(defaults)) << s.name;
    }
    Config workers;
    ASSERT_EQ(parse({"--workers", "3"}, &workers), "");
    Config workers_loaded;
    ASSERT_EQ(load(format_config(workers), &workers_loaded), "");
    EXPECT_EQ(workers_loaded.workers, 3u);
}

// The Redis engine's keys (refused with --direct-descriptors, which
// EverySettingChangedRoundTrips sets), each changed from its default.
TEST(ConfigFile, RedisKeysRoundTrip) {
    Config c;
    ASSERT_EQ(
        parse({"--mode", "pubsub", "--engine", "redis", "--redis", "127.0.0.1:6379", "--redis",
               "[::1]:6380", "--redis-password", "pw", "--redis-db", "2", "--redis-connect-timeout",
               "0.25", "--redis-command-timeout", "0.5", "--redis-health-strict", "off"},
              &c),
        "");
    std::string printed = format_config(c);
    Config loaded;
    ASSERT_EQ(load(printed, &loaded), "") << printed;
    EXPECT_EQ(format_config(loaded), printed);
    EXPECT_TRUE(loaded.hub.redis_engine);
    EXPECT_EQ(loaded.redis, (std::vector<std::string>{"127.0.0.1:6379", "[::1]:6380"}));
    const Config defaults;
    for (const Setting& s : settings()) {
        if (s.name.starts_with("redis") || s.name == "engine") {
            EXPECT_NE(s.get(loaded), s.get(defaults)) << s.name;
        }
    }
    Config a, b, d;
    EXPECT_NE(parse({"--mode", "pubsub", "--engine", "redis"}, &a), "");  // no --redis
    EXPECT_NE(parse({"--redis", "127.0.0.1:1"}, &b), "");                 // no --engine redis
    EXPECT_NE(parse({"--mode", "pubsub", "--engine", "redis", "--redis", "nohost"}, &d), "");
}

TEST(ConfigFile, ProxyKeysRoundTrip) {
    Config c;
    ASSERT_EQ(parse({"--mode",
                     "proxy",
                     "--upstream",
                     "a=127.0.0.1:1",
                     "--upstream",
                     "a=[::1]:2,weight=3",
                     "--route",
                     "/=a",
                     "--route",
                     "/chat=a,relay=frames",
                     "--upstream-connect-timeout",
                     "0.25",
                     "--balance",
                     "a=hash:query:room",
                     "--hash-balance-factor",
                     "1.5",
                     "--health-check",
                     "a=path=/up,interval=0.5,timeout=0.25,rise=1,fall=2",
                     "--upstream-max-fails",
                     "5",
                     "--upstream-fail-timeout",
                     "2.5",
                     "--upstream-slow-start",
                     "0",
                     "--upstream-ping-interval",
                     "0"},
                    &c),
              "");
    std::string printed = format_config(c);
    EXPECT_NE(printed.find("\nupstream = [\"a=127.0.0.1:1\", \"a=[::1]:2,weight=3\"]\n"),
              std::string::npos)
        << printed;
    Config loaded;
    ASSERT_EQ(load(printed, &loaded), "") << printed;
    EXPECT_EQ(format_config(loaded), printed);
    EXPECT_EQ(loaded.routes, (std::vector<std::string>{"/=a", "/chat=a,relay=frames"}));
    EXPECT_EQ(loaded.upstream_ping_interval_s, 0);
    EXPECT_DOUBLE_EQ(loaded.upstream_connect_timeout_s, 0.25);
    EXPECT_EQ(loaded.balances, (std::vector<std::string>{"a=hash:query:room"}));
    EXPECT_DOUBLE_EQ(loaded.hash_balance_factor, 1.5);
    EXPECT_EQ(loaded.health_checks,
              (std::vector<std::string>{"a=path=/up,interval=0.5,timeout=0.25,rise=1,fall=2"}));
    EXPECT_EQ(loaded.passive_health.max_fails, 5u);
    EXPECT_EQ(loaded.passive_health.fail_timeout_ms, 2500u);
    EXPECT_EQ(loaded.passive_health.slow_start_ms, 0u);
    // Without --mode proxy the lists are not set: comments, which load back.
    std::string plain = format_config(Config{});
    EXPECT_NE(plain.find("\n# upstream is not set\n"), std::string::npos);
    // A route to a pool no upstream names is refused from a file as from flags.
    Config bad;
    ASSERT_EQ(load("mode = \"proxy\"\nroute = [\"/=nowhere\"]\n", &bad), "");
    EXPECT_NE(wsgate::gateway::check_config(bad), "");
}

TEST(ConfigFile, FlagsOverrideTheFile) {
    TempFile file(
        "listen = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n"
        "mode = \"pubsub\"\n"
        "threads = 2\n"
        "max-queued-bytes = 1000\n"
        "trace = true\n");
    Config c;
    // The flags win wherever they come, before or after --config.
    ASSERT_EQ(parse({"--threads", "5", "--config", file.path(), "--listen", "127.0.0.1:3",
                     "--trace=false"},
                    &c),
              "");
    EXPECT_EQ(c.threads, 5u);
    EXPECT_EQ(c.listen, std::vector<std::string>{"127.0.0.1:3"});  // replaced, not added to
    EXPECT_FALSE(c.trace);
    EXPECT_EQ(c.mode, Mode::pubsub);  // from the file
    EXPECT_EQ(c.max_queued_bytes, 1000u);
    EXPECT_EQ(c.config_file, file.path());

    Config only_file;
    ASSERT_EQ(parse({"--config", file.path()}, &only_file), "");
    EXPECT_EQ(only_file.listen, (std::vector<std::string>{"127.0.0.1:1", "127.0.0.1:2"}));
    EXPECT_EQ(only_file.threads, 2u);
    EXPECT_TRUE(only_file.trace);

    // A bad file is reported as it is, before any flag value.
    Config missing;
    EXPECT_EQ(parse({"--config", "/nonexistent/wsgate.toml", "--threads", "0"}, &missing),
              "cannot read /nonexistent/wsgate.toml: No such file or directory");
    Config no_value;
    EXPECT_EQ(parse({"--config"}, &no_value), "missing value for --config");
    Config toggle;
    EXPECT_EQ(parse({"--trace=maybe"}, &toggle), "bad value for --trace: maybe");
}

TEST(ConfigFile, PubSubWithWorkersIsRefusedFromFileAndFlags) {
    TempFile file("mode = \"pubsub\"\nworkers = 2\n");
    Config c;
    EXPECT_EQ(load("mode = \"pubsub\"\nworkers = 2\n", &c), "");  // each valid alone
    EXPECT_NE(check_config(c).find("--workers > 1 is not available"), std::string::npos);
    Config f;
    EXPECT_NE(parse({"--config", file.path()}, &f).find("--workers > 1"), std::string::npos);
    Config fixed;
    EXPECT_EQ(parse({"--config", file.path(), "--workers", "1"}, &fixed), "");
}

TEST(ConfigFile, UnknownKeysSuggestTheNearest) {
    Config c;
    EXPECT_EQ(load("threads = 2\nmax-queue-bytes = 5\n", &c),
              "gate.toml:2:1: unknown key 'max-queue-bytes' (did you mean 'max-queued-bytes'?)");
    EXPECT_EQ(load("  lisen = [\"127.0.0.1:1\"]\n", &c),
              "gate.toml:1:3: unknown key 'lisen' (did you mean 'listen'?)");
    EXPECT_EQ(load("colour = \"blue\"\n", &c), "gate.toml:1:1: unknown key 'colour'");
    // A table is not a setting; nor is a command-line flag a file key.
    EXPECT_EQ(load("[pubsub]\nhistory-size = 3\n", &c), "gate.toml:1:2: unknown key 'pubsub'");
    EXPECT_EQ(load("config = \"other.toml\"\n", &c),
              "gate.toml:1:1: config is a command-line flag, not a file key");
    // Errors come in the file's order, whatever the keys' sort order.
    EXPECT_EQ(load("zzz = 1\naaa = 2\n", &c), "gate.toml:1:1: unknown key 'zzz'");
    // Flags get the suggestion too.
    EXPECT_EQ(parse({"--max-queue-bytes", "5"}, &c),
              "unknown flag --max-queue-bytes (did you mean --max-queued-bytes?)");
    EXPECT_EQ(parse({"--no-such-flag"}, &c), "unknown flag --no-such-flag (see --help)");
}

TEST(ConfigFile, WrongTypesNameLineColumnAndWhatWasExpected) {
    Config c;
    EXPECT_EQ(load("threads = 2\nidle-timeout = \"30s\"\n", &c),
              "gate.toml:2:16: idle-timeout: expected a number of seconds, got a string");
    EXPECT_EQ(load("mode = 3\n", &c),
              "gate.toml:1:8: mode: expected a string (echo|pubsub|proxy), got an integer");
    EXPECT_EQ(load("trace = \"yes\"\n", &c),
              "gate.toml:1:9: trace: expected a boolean (true or false), got a string");
    EXPECT_EQ(load("threads = \"2\"\n", &c),
              "gate.toml:1:11: threads: expected an integer or \"auto\", got a string");
    EXPECT_EQ(load("max-connections = 1.5\n", &c),
              "gate.toml:1:19: max-connections: expected an integer, got a float");
    EXPECT_EQ(load("deflate = true\n", &c),
              "gate.toml:1:11: deflate: expected a string (on|off), got a boolean");
    // A syntax error: toml++'s description at its position.
    std::string syntax = load("threads = 2\nmode = \n", &c);
    EXPECT_EQ(syntax.rfind("gate.toml:2:", 0), 0u) << syntax;
    EXPECT_EQ(load("threads = 2\nthreads = 3\n", &c).rfind("gate.toml:2:", 0), 0u);
}

TEST(ConfigFile, ListenIsAnArrayOfAddresses) {
    Config c;
    ASSERT_EQ(load("listen = [\"127.0.0.1:1\", \"[::1]:2\"]\n", &c), "");
    EXPECT_EQ(c.listen, (std::vector<std::string>{"127.0.0.1:1", "[::1]:2"}));
    EXPECT_EQ(load("listen = \"127.0.0.1:1\"\n", &c),
              "gate.toml:1:10: listen: expected a non-empty array of strings, got a string");
    EXPECT_EQ(load("listen = []\n", &c),
              "gate.toml:1:10: listen: expected a non-empty array of strings, got an array");
    EXPECT_EQ(load("listen = [\"127.0.0.1:1\", 80]\n", &c),
              "gate.toml:1:26: listen: expected a non-empty array of strings, got an integer");
    EXPECT_EQ(load("listen = [\n  \"127.0.0.1:1\",\n  \"localhost:80\",\n]\n", &c),
              "gate.toml:3:3: bad value for listen: localhost:80");
    EXPECT_EQ(parse({"--listen", "localhost:80"}, &c), "bad value for --listen: localhost:80");
}

TEST(ConfigFile, TlsListenersNeedPairedCertificatesAndKeys) {
    Config c;
    EXPECT_EQ(parse({"--listen", "127.0.0.1:1,tls"}, &c),
              "a TLS listener (--listen ADDR:PORT,tls) needs --tls-cert and --tls-key");
    Config unpaired;
    EXPECT_EQ(
        parse({"--tls-cert", "a.pem", "--tls-cert", "b.pem", "--tls-key", "a.key"}, &unpaired),
        "--tls-cert and --tls-key come in pairs (2 certificates, 1 keys)");
    Config bad;
    EXPECT_NE(parse({"--listen", "127.0.0.1:1,tl"}, &bad), "");
    EXPECT_NE(parse({"--listen", ",tls"}, &bad), "");
    Config file;
    EXPECT_EQ(load("listen = [\"127.0.0.1:1,tls\", \"127.0.0.1:2\"]\ntls-cert = [\"c.pem\"]\n"
                   "tls-key = [\"k.pem\"]\n",
                   &file),
              "");
    EXPECT_TRUE(has_tls_listener(file));
    bool tls = false;
    EXPECT_EQ(listen_address(file.listen[0], &tls), "127.0.0.1:1");
    EXPECT_TRUE(tls);
    EXPECT_EQ(listen_address(file.listen[1], &tls), "127.0.0.1:2");
    EXPECT_FALSE(tls);
}

TEST(ConfigFile, PubSubKeys) {
    Config c;
    ASSERT_EQ(load("mode = \"pubsub\"\n"
                   "api-key = \"k\"\n"
                   "allow-client-publish = true\n"
                   "allow-anonymous = \"off\"\n"
                   "token-hmac-secret = \"s\"\n"
                   "history-size = 10\n"
                   "history-ttl = 60\n"
                   "ping-interval = 3\n"
                   "max-channels-per-connection = 4\n"
                   "max-channels = 5\n",
                   &c),
              "");
    EXPECT_EQ(c.mode, Mode::pubsub);
    EXPECT_EQ(c.hub.api_key, "k");
    EXPECT_TRUE(c.hub.allow_client_publish);
    EXPECT_FALSE(c.hub.allow_anonymous);
    EXPECT_EQ(c.hub.token_hmac_secret, "s");
    EXPECT_EQ(c.hub.history_size, 10u);
    EXPECT_EQ(c.hub.history_ttl_s, 60u);
    EXPECT_EQ(c.hub.ping_interval_s, 3u);
    EXPECT_EQ(c.hub.max_channels_per_connection, 4u);
    EXPECT_EQ(c.hub.max_channels, 5u);
    EXPECT_EQ(load("allow-client-publish = false\n", &c), "");
    EXPECT_FALSE(c.hub.allow_client_publish);
    EXPECT_EQ(load("api-key = \"\"\n", &c), "gate.toml:1:11: bad value for api-key: ");
}

// A value the flag refuses is refused in the file too, by the same check.
TEST(ConfigFile, InvalidValuesReuseTheFlagValidation) {
    struct Case {
        const char* toml_value;
        const char* flag_value;
    };
    const std::vector<std::pair<const char*, Case>> cases = {
        {"threads", {"0", "0"}},
        {"threads", {"1025", "1025"}},
        {"workers", {"0", "0"}},
        {"recv-buffers", {"100", "100"}},  // not a power of two
        {"recv-buffer-bytes", {"255", "255"}},
        {"deflate-level", {"10", "10"}},
        {"deflate-window-bits", {"8", "8"}},
        {"history-ttl", {"0", "0"}},
        {"max-queued-bytes", {"0", "0"}},
        {"max-connections", {"-1", "-1"}},
        {"idle-timeout", {"-1", "-1"}},
        {"idle-timeout", {"0", "0"}},
        {"close-timeout", {"31536001", "31536001"}},  // more than a year
        {"deflate", {"\"yes\"", "yes"}},
        {"backend", {"\"kqueue\"", "kqueue"}},
        {"mode", {"\"relay\"", "relay"}},
        {"allow-anonymous", {"\"true\"", "true"}},
        {"deflate-no-context-takeover", {"\"all\"", "all"}},
    };
    for (const auto& [key, v] : cases) {
        Config c;
        std::string flag = std::string("--") + key;
        std::string flag_error = parse({flag.c_str(), v.flag_value}, &c);
        EXPECT_EQ(flag_error, "bad value for " + flag + ": " + v.flag_value);
        std::string line = std::string(key) + " = " + v.toml_value + "\n";
        std::string want = "gate.toml:1:" + std::to_string(std::string(key).size() + 4) +
                           ": bad value for " + key + ": ";
        std::string file_error = load(line, &c);
        EXPECT_EQ(file_error.rfind(want, 0), 0u) << line << " -> " << file_error;
        EXPECT_NE(file_error.find(v.flag_value), std::string::npos) << file_error;
    }
}

TEST(ConfigFile, AutoIsAValueForDerivedDefaults) {
    Config c;
    ASSERT_EQ(parse({"--threads", "4", "--max-handshakes", "8"}, &c), "");
    ASSERT_EQ(load("threads = \"auto\"\nmax-handshakes = \"auto\"\n", &c), "");
    EXPECT_EQ(c.threads, 0u);
    EXPECT_EQ(c.max_handshakes, 0u);
    ASSERT_EQ(parse({"--threads", "auto"}, &c), "");
    EXPECT_EQ(c.threads, 0u);
    EXPECT_EQ(load("threads = \"many\"\n", &c),
              "gate.toml:1:11: threads: expected an integer or \"auto\", got a string");
}

TEST(ConfigFile, SecondsTakeIntegersAndFloats) {
    Config c;
    ASSERT_EQ(load("idle-timeout = 30\nclose-timeout = 0.25\n", &c), "");
    EXPECT_DOUBLE_EQ(c.idle_timeout_s, 30);
    EXPECT_DOUBLE_EQ(c.close_timeout_s, 0.25);
}

TEST(ConfigFile, HelpListsTheConfigFlagAndCheckConfig) {
    std::string help = config_help();
    EXPECT_NE(help.find("\n  --config FILE "), std::string::npos);
    EXPECT_NE(help.find("wsgate check-config FILE"), std::string::npos);
    // Every row is in --help, once.
    for (const Setting& s : settings()) {
        std::string flag = "\n  --" + std::string(s.name) + (s.value_name.empty() ? "" : " ");
        size_t at = help.find(flag);
        EXPECT_NE(at, std::string::npos) << s.name;
    }
}

}  // namespace
}  // namespace wsgate::gateway

namespace wsgate::gateway {
namespace {

// Documents made of the table's keys (and near misses) with values of every
// TOML type: loading one either succeeds, and then the printed configuration
// loads back to itself, or fails with one line at a position in the file.
TEST(ConfigFile, RandomDocumentsLoadOrFailWithOnePositionedLine) {
    const std::vector<std::string> values = {
        "0",
        "1",
        "7",
        "64",
        "1024",
        "4294967296",
        "-1",
        "9223372036854775807",
        "0.5",
        "1e-3",
        "1e9",
        "nan",
        "inf",
        "-0.0",
        "true",
        "false",
        "\"on\"",
        "\"off\"",
        "\"auto\"",
        "\"\"",
        "\"both\"",
        "\"epoll\"",
        "\"pubsub\"",
        "\"echo\"",
        "\"x\\\"y\"",
        "\"127.0.0.1:1\"",
        "[]",
        "[\"127.0.0.1:1\"]",
        "[\"[::1]:2\", \"127.0.0.1:3\"]",
        "[1, 2]",
        "{ a = 1 }",
        "1979-05-27",
    };
    // Half the values have the type their key takes, so documents often load.
    auto typed = [](SettingType type, size_t pick) -> std::string {
        switch (type) {
            case SettingType::toggle:
                return pick % 2 ? "true" : "false";
            case SettingType::integer:
                return std::to_string(pick % 3 == 0 ? 1 : 9 + pick % 7);
            case SettingType::integer_or_auto:
                return pick % 2 ? "\"auto\"" : std::to_string(1 + pick % 5);
            case SettingType::seconds:
            case SettingType::number:
                return pick % 2 ? "2.5" : "3";
            case SettingType::text:
                return pick % 2 ? "\"on\"" : "\"epoll\"";
            case SettingType::text_list:
                return "[\"127.0.0.1:1\", \"[::1]:2\"]";
            case SettingType::command_line:
                break;
        }
        return "1";
    };
    std::vector<std::pair<std::string, const Setting*>> keys;
    for (const Setting& s : settings())
        keys.emplace_back(std::string(s.name), &s);
    for (const char* near_miss : {"listen-", "thread", "max_queued_bytes", "x", "a.b", "\"q\""})
        keys.emplace_back(near_miss, nullptr);
    uint64_t state = 0x9e3779b97f4a7c15u;
    auto next = [&state](size_t n) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return static_cast<size_t>(state % n);
    };
    size_t loaded = 0;
    for (int doc = 0; doc < 3000; ++doc) {
        std::string text;
        size_t lines = 1 + next(4);
        for (size_t l = 0; l < lines; ++l) {
            const auto& [key, setting] = keys[next(keys.size())];
            bool use_typed = setting != nullptr && next(2) == 0;
            text += key + " = " +
                    (use_typed ? typed(setting->type, next(100)) : values[next(values.size())]) +
                    "\n";
        }
        Config c;
        std::string error = load(text, &c);
        if (!error.empty()) {
            EXPECT_EQ(error.rfind("gate.toml:", 0), 0u) << text << error;
            EXPECT_EQ(error.find('\n'), std::string::npos) << error;
            continue;
        }
        ++loaded;
        std::string printed = format_config(c);
        Config again;
        ASSERT_EQ(load(printed, &again), "") << text << printed;
        EXPECT_EQ(format_config(again), printed) << text;
    }
    EXPECT_GT(loaded, 100u);  // the generator reaches both outcomes
}

}  // namespace
}  // namespace wsgate::gateway
