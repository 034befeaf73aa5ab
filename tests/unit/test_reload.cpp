// Reloading the configuration: which keys apply live, the plan of one
// reload, the reloader's all-or-nothing behaviour with hooks, and its answer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "gateway/config.hpp"
#include "gateway/config_settings.hpp"
#include "gateway/reload_policy.hpp"
#include "gateway/reloader.hpp"
#include "gateway/settings_snapshot.hpp"

namespace wsgate::gateway {
namespace {

Config from_toml(std::string_view toml) {
    Config c;
    EXPECT_EQ(load_config_text(toml, "gate.toml", &c), "");
    return c;
}

TEST(ReloadPolicy, LiveKeysAreSettings) {
    size_t live = 0;
    for (const Setting& s : settings()) {
        if (is_live_key(s.name)) ++live;
    }
    EXPECT_GE(live, 10u);
    EXPECT_FALSE(is_live_key("threads"));
    EXPECT_FALSE(is_live_key("listen"));
    EXPECT_TRUE(is_live_key("idle-timeout"));
    EXPECT_FALSE(is_live_key("no-such-key"));
    std::string text = describe_reload_policy();
    EXPECT_NE(text.find("# live on reload"), std::string::npos);
    EXPECT_NE(text.find(" idle-timeout"), std::string::npos);
    EXPECT_NE(text.find(" threads"), std::string::npos);
    // Every line is a TOML comment: the check-config output still loads.
    size_t start = 0;
    while (start < text.size()) {
        EXPECT_EQ(text[start], '#') << text.substr(start);
        start = text.find('\n', start) + 1;
    }
}

TEST(ReloadPolicy, AppliesLiveChangesAndReportsTheRest) {
    Config started = from_toml("idle-timeout = 60\nthreads = 2\nmax-queued-bytes = 1000000\n");
    Config next = from_toml("idle-timeout = 5\nthreads = 4\nmax-queued-bytes = 1000000\n");
    ReloadPlan plan = plan_reload(started, started, next);
    EXPECT_EQ(plan.applied, std::vector<std::string>{"idle-timeout"});
    ASSERT_EQ(plan.restart.size(), 1u);
    EXPECT_EQ(plan.restart[0].rfind("threads: ", 0), 0u) << plan.restart[0];
    EXPECT_EQ(plan.effective.idle_timeout_s, 5);
    EXPECT_EQ(plan.effective.threads, 2u);  // kept until a restart
}

TEST(ReloadPolicy, NothingChanged) {
    Config c = from_toml("idle-timeout = 7\n");
    ReloadPlan plan = plan_reload(c, c, c);
    EXPECT_TRUE(plan.applied.empty());
    EXPECT_TRUE(plan.restart.empty());
    EXPECT_EQ(format_config(plan.effective), format_config(c));
}

TEST(ReloadPolicy, TablesSizedAtStartUpOnlyShrink) {
    Config started = from_toml("max-connections = 1000\n");
    Config lower = from_toml("max-connections = 10\n");
    ReloadPlan down = plan_reload(started, started, lower);
    EXPECT_EQ(down.applied, std::vector<std::string>{"max-connections"});
    EXPECT_EQ(down.effective.max_connections, 10u);
    // Back up to the start-up value is live again; above it is not.
    ReloadPlan up = plan_reload(started, down.effective, started);
    EXPECT_EQ(up.applied, std::vector<std::string>{"max-connections"});
    Config higher = from_toml("max-connections = 5000\n");
    ReloadPlan over = plan_reload(started, down.effective, higher);
    EXPECT_TRUE(over.applied.empty());
    ASSERT_EQ(over.restart.size(), 1u);
    EXPECT_NE(over.restart[0].find("above the start-up value 1000"), std::string::npos);
    EXPECT_EQ(over.effective.max_connections, 10u);
}

// --upstream-connect-timeout and --upstream-ping-interval apply live: the
// snapshot hands each proxy loop the new values (ProxyApp::on_settings).
TEST(ReloadPolicy, ProxyTimingReachesTheLoopsPart) {
    Config started = from_toml("upstream-connect-timeout = 5\nupstream-ping-interval = 30\n");
    started.mode = Mode::proxy;
    Config next = from_toml("upstream-connect-timeout = 0.25\nupstream-ping-interval = 0\n");
    next.mode = Mode::proxy;
    ReloadPlan plan = plan_reload(started, started, next);
    EXPECT_EQ(plan.applied,
              (std::vector<std::string>{"upstream-connect-timeout", "upstream-ping-interval"}));
    EXPECT_TRUE(plan.restart.empty());
    SnapshotContext context{2, "wsgate test", nullptr};
    std::shared_ptr<const SettingsSnapshot> before = build_snapshot(started, context, 1);
    EXPECT_EQ(before->proxy.connect_timeout_ms, 5000u);
    EXPECT_EQ(before->proxy.upstream_ping_interval_ms, 30000u);
    std::shared_ptr<const SettingsSnapshot> after = build_snapshot(plan.effective, context, 2);
    ws::SettingsUpdate u = loop_update(after);
    ASSERT_EQ(u.app.get(), &after->proxy);
    const auto& part = *static_cast<const proxy::ProxyReload*>(u.app.get());
    EXPECT_EQ(part.connect_timeout_ms, 250u);
    EXPECT_EQ(part.upstream_ping_interval_ms, 0u);
}

TEST(ReloadAnswer, JsonAndLogLine) {
    ReloadOutcome ok;
    ok.ok = true;
    ok.generation = 3;
    ok.applied = {"idle-timeout"};
    ok.restart = {"threads: needs a restart"};
    EXPECT_EQ(reload_json(ok),
              "{\"ok\":true,\"generation\":3,\"applied\":[\"idle-timeout\"],\"restart_needed\":["
              "\"threads: needs a restart\"]}\n");
    EXPECT_EQ(reload_log_line(ok),
              "reloaded (settings generation 3): applied idle-timeout; not applied, need a "
              "restart: threads: needs a restart");
    ReloadOutcome bad;
    bad.error = "gate.toml:1:6: \"quoted\"\n";
    EXPECT_EQ(reload_json(bad), "{\"ok\":false,\"error\":\"gate.toml:1:6: \\\"quoted\\\"\\n\"}\n");
    EXPECT_EQ(reload_log_line(bad).rfind("reload failed, nothing changed: gate.toml:1:6", 0), 0u);
}

// A file the test rewrites between reloads.
class ConfigFile {
  public:
    ConfigFile() {
        char name[] = "/tmp/wsgate-reload-test.XXXXXX";
        int fd = mkstemp(name);
        EXPECT_GE(fd, 0);
        close(fd);
        path_ = name;
    }
    ~ConfigFile() { unlink(path_.c_str()); }
    void write(std::string_view text) {
        std::ofstream out(path_, std::ios::trunc);
        out << text;
    }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

struct FakeHook final : ReloadHook {
    std::string fail_with;
    int prepared = 0, committed = 0, aborted = 0;
    std::string_view name() const override { return "fake"; }
    std::string prepare(const Config&, const Config&, std::vector<std::string>* changed) override {
        ++prepared;
        if (fail_with.empty()) changed->push_back("fake: new keys");
        return fail_with;
    }
    void commit() override { ++committed; }
    void abort() override { ++aborted; }
};

struct Harness {
    ConfigFile file;
    std::vector<std::shared_ptr<const SettingsSnapshot>> published;
    std::unique_ptr<Reloader> reloader;

    explicit Harness(std::string_view toml, std::vector<std::string> flags = {}) {
        file.write(toml);
        std::vector<std::string> args = {"wsgate", "--config", file.path()};
        args.insert(args.end(), flags.begin(), flags.end());
        std::vector<const char*> argv;
        for (const std::string& a : args)
            argv.push_back(a.c_str());
        Config config;
        EXPECT_EQ(parse_config(static_cast<int>(argv.size()), argv.data(), &config), "");
        SnapshotContext context{2, "wsgate test", nullptr};
        reloader = std::make_unique<Reloader>(
            args, build_snapshot(config, context, 1), context,
            [this](const std::shared_ptr<const SettingsSnapshot>& s) { published.push_back(s); });
    }
};

TEST(Reloader, PublishesANewSnapshotWithFlagsStillOverTheFile) {
    Harness h("idle-timeout = 60\nmax-queued-bytes = 4096\n", {"--max-queued-bytes", "8192"});
    h.file.write("idle-timeout = 3\nmax-queued-bytes = 100\n");
    ReloadOutcome o = h.reloader->reload();
    ASSERT_TRUE(o.ok) << o.error;
    EXPECT_EQ(o.generation, 2u);
    EXPECT_EQ(o.applied, std::vector<std::string>{"idle-timeout"});
    ASSERT_EQ(h.published.size(), 1u);
    const SettingsSnapshot& s = *h.published[0];
    EXPECT_EQ(s.generation, 2u);
    EXPECT_EQ(s.loop.generation, 2u);
    EXPECT_EQ(s.loop.idle_timeout_ticks, 30u);  // 3 s in 100 ms ticks
    EXPECT_EQ(s.loop.max_queued_bytes, 8192u);  // the flag still wins
    EXPECT_EQ(h.reloader->current().get(), &s);
    ws::SettingsUpdate u = loop_update(h.published[0]);
    EXPECT_EQ(u.loop.get(), &s.loop);
    EXPECT_EQ(u.app, nullptr);  // echo mode: nothing for the application
}

TEST(Reloader, BadFileChangesNothing) {
    Harness h("idle-timeout = 60\n");
    h.file.write("idle-timeout = 3\nmax-queue-bytes = 1\n");
    ReloadOutcome o = h.reloader->reload();
    EXPECT_FALSE(o.ok);
    EXPECT_NE(o.error.find(h.file.path() + ":2:1: unknown key 'max-queue-bytes'"),
              std::string::npos)
        << o.error;
    EXPECT_TRUE(h.published.empty());
    EXPECT_EQ(h.reloader->current()->generation, 1u);
    EXPECT_EQ(h.reloader->current()->config.idle_timeout_s, 60);
}

TEST(Reloader, HookFailureAbortsThePreparedOnes) {
    Harness h("idle-timeout = 60\n");
    FakeHook good, bad;
    bad.fail_with = "cert.pem: no certificate";
    h.reloader->add_hook(&good);
    h.reloader->add_hook(&bad);
    h.file.write("idle-timeout = 3\n");
    ReloadOutcome o = h.reloader->reload();
    EXPECT_FALSE(o.ok);
    EXPECT_EQ(o.error, "fake: cert.pem: no certificate");
    EXPECT_EQ(good.aborted, 1);
    EXPECT_EQ(good.committed, 0);
    EXPECT_EQ(bad.aborted, 0);  // it prepared nothing
    EXPECT_TRUE(h.published.empty());
    h.reloader->remove_hook(&bad);
    o = h.reloader->reload();
    ASSERT_TRUE(o.ok) << o.error;
    EXPECT_EQ(good.committed, 1);
    EXPECT_EQ(o.applied, (std::vector<std::string>{"idle-timeout", "fake: new keys"}));
}

TEST(Reloader, ClosedRefuses) {
    Harness h("idle-timeout = 60\n");
    h.reloader->close();
    ReloadOutcome o = h.reloader->reload();
    EXPECT_FALSE(o.ok);
    EXPECT_TRUE(o.refused);
    EXPECT_TRUE(h.published.empty());
}

}  // namespace
}  // namespace wsgate::gateway
