// Upstream health: the --health-check syntax, the status line a check
// judges (split at every byte), and UpstreamLive's states: passive take-out
// after max_fails in a row (once, whichever loop sees it), the time out, the
// return, slow start, and active verdicts; a down server is no candidate.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/health_check.hpp"
#include "proxy/route_table.hpp"
#include "proxy/upstream_live.hpp"

using namespace wsgate::proxy;

namespace {

RouteTable pool_of(size_t n, PassiveHealth passive = {}, bool checked = false) {
    RouteTable t;
    for (size_t i = 0; i < n; ++i)
        EXPECT_EQ(t.add_upstream("p=127.0.0.1:" + std::to_string(9000 + i)), "");
    EXPECT_EQ(t.add_route("/=p"), "");
    if (checked) {
        EXPECT_EQ(t.add_health_check("p="), "");
    }
    t.set_passive(passive);
    EXPECT_EQ(t.finish(), "");
    return t;
}

int status_of(std::string_view text) {
    return parse_status_line({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

}  // namespace

TEST(HealthCheckSpec, ParsesAnySubset) {
    auto all = parse_health_check("path=/up,interval=0.5,timeout=0.25,rise=1,fall=4");
    ASSERT_TRUE(all);
    EXPECT_EQ(all->path, "/up");
    EXPECT_EQ(all->interval_ms, 500u);
    EXPECT_EQ(all->timeout_ms, 250u);
    EXPECT_EQ(all->rise, 1u);
    EXPECT_EQ(all->fall, 4u);
    EXPECT_EQ(health_check_text(*all), "path=/up,interval=0.5,timeout=0.25,rise=1,fall=4");
    auto defaults = parse_health_check("");
    ASSERT_TRUE(defaults);
    EXPECT_EQ(health_check_text(*defaults), "path=/healthz,interval=2,timeout=1,rise=2,fall=3");
    EXPECT_EQ(parse_health_check("fall=5")->fall, 5u);
    for (const char* bad :
         {"path=healthz", "path=/a b", "interval=0", "interval=-1", "timeout=3", "rise=0",
          "fall=101", "rise=1.5", "speed=2", "path", "interval=1,", "interval=x"}) {
        EXPECT_FALSE(parse_health_check(bad)) << bad;
    }
    RouteTable t;
    ASSERT_EQ(t.add_upstream("p=127.0.0.1:1"), "");
    ASSERT_EQ(t.add_route("/=p"), "");
    EXPECT_EQ(t.add_health_check("p=interval=1"), "");
    EXPECT_NE(t.add_health_check("p=fall=2"), "");  // twice
    EXPECT_NE(t.add_health_check("p=rise=0"), "");
    ASSERT_EQ(t.finish(), "");
    ASSERT_TRUE(t.pools()[0].check);
    EXPECT_EQ(t.pools()[0].check->interval_ms, 1000u);
    RouteTable unknown;
    ASSERT_EQ(unknown.add_upstream("p=127.0.0.1:1"), "");
    ASSERT_EQ(unknown.add_route("/=p"), "");
    ASSERT_EQ(unknown.add_health_check("q=interval=1"), "");
    EXPECT_NE(unknown.finish(), "");
}

TEST(HealthCheckSpec, StatusLineAtEveryByte) {
    const std::string line = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
    const size_t end = line.find('\n') + 1;
    for (size_t n = 0; n <= line.size(); ++n) {
        EXPECT_EQ(status_of(std::string_view(line).substr(0, n)), n < end ? 0 : 204) << n;
    }
    EXPECT_EQ(status_of("HTTP/1.0 503 Service Unavailable\r\n"), 503);
    EXPECT_EQ(status_of("HTTP/1.1 200\r\n"), 200);  // the reason phrase may be absent
    EXPECT_EQ(status_of("SSH-2.0-OpenSSH\r\n"), -1);
    EXPECT_EQ(status_of("HTTP/2 200\r\n"), -1);
    EXPECT_EQ(status_of("HTTP/1.1 2x0 OK\r\n"), -1);
    EXPECT_EQ(status_of("HTTP/1.1 099 Low\r\n"), -1);
    EXPECT_EQ(status_of("HTTP/1.1 600 High\r\n"), -1);
    EXPECT_EQ(status_of("X"), -1);  // wrong from its first byte
    EXPECT_TRUE(check_passes(200));
    EXPECT_TRUE(check_passes(302));
    EXPECT_FALSE(check_passes(404));
    EXPECT_FALSE(check_passes(503));
}

TEST(UpstreamLive, FailuresInARowTakeAServerOutOnce) {
    RouteTable t = pool_of(3, PassiveHealth{3, 10000, 0});
    UpstreamLive live(t);
    ServerLive& s = live.server(0, 1);
    const int64_t now = 1000000;
    EXPECT_EQ(live.note_failure(s, FailureKind::connect, now, true), HealthChange::none);
    EXPECT_EQ(live.note_failure(s, FailureKind::handshake, now, true), HealthChange::none);
    live.note_success(s);  // not in a row any more
    EXPECT_EQ(live.note_failure(s, FailureKind::connect, now, true), HealthChange::none);
    EXPECT_EQ(live.note_failure(s, FailureKind::connect, now, true), HealthChange::none);
    EXPECT_EQ(live.note_failure(s, FailureKind::connect, now, true), HealthChange::down);
    // Connections picked before it went out fail too: no second line.
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(live.note_failure(s, FailureKind::connect, now + 1, true), HealthChange::none);
    EXPECT_EQ(s.connect_failures.load(), 9u);
    EXPECT_EQ(s.handshake_failures.load(), 1u);
    EXPECT_EQ(s.went_down.load(), 1u);
    // Out: no new connections until the time out passes.
    Candidate c[3];
    live.candidates(0, t.pools()[0], 0, now + 9999, c);
    EXPECT_EQ(c[1].weight, 0u);
    EXPECT_EQ(c[0].weight, kWeightScale);
    EXPECT_EQ(live.passive_return(s, now + 9999), HealthChange::none);
    EXPECT_EQ(live.passive_return(s, now + 10000), HealthChange::up);
    EXPECT_EQ(live.passive_return(s, now + 10001), HealthChange::none);  // said once
    live.candidates(0, t.pools()[0], 0, now + 10000, c);
    EXPECT_EQ(c[1].weight, kWeightScale);  // no slow start configured
}

TEST(UpstreamLive, OnlyServerIsNeverTakenOut) {
    RouteTable t = pool_of(1, PassiveHealth{1, 10000, 0});
    UpstreamLive live(t);
    ServerLive& s = live.server(0, 0);
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(live.note_failure(s, FailureKind::connect, 5000, false), HealthChange::none);
    EXPECT_EQ(live.effective_weight(s, 1, 5001), kWeightScale);
    EXPECT_EQ(s.connect_failures.load(), 5u);
}

TEST(UpstreamLive, MaxFailsZeroIsOff) {
    RouteTable t = pool_of(2, PassiveHealth{0, 10000, 0});
    UpstreamLive live(t);
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(live.note_failure(live.server(0, 0), FailureKind::connect, 1, true),
                  HealthChange::none);
    }
    EXPECT_EQ(live.effective_weight(live.server(0, 0), 1, 2), kWeightScale);
}

TEST(UpstreamLive, SlowStartRampsTheWeight) {
    RouteTable t = pool_of(2, PassiveHealth{1, 1000, 4000});
    UpstreamLive live(t);
    ServerLive& s = live.server(0, 0);
    const int64_t t0 = 50000;
    ASSERT_EQ(live.note_failure(s, FailureKind::connect, t0, true), HealthChange::down);
    EXPECT_EQ(live.effective_weight(s, 3, t0 + 999), 0u);
    // Back at t0 + 1000, then from 1 to 3 × kWeightScale over 4 s.
    EXPECT_EQ(live.effective_weight(s, 3, t0 + 1000), 1u);
    EXPECT_EQ(live.effective_weight(s, 3, t0 + 2000), 3 * kWeightScale / 4);
    EXPECT_EQ(live.effective_weight(s, 3, t0 + 3000), 3 * kWeightScale / 2);
    EXPECT_EQ(live.effective_weight(s, 3, t0 + 5000), 3 * kWeightScale);
    EXPECT_EQ(live.effective_weight(s, 3, t0 + 99000), 3 * kWeightScale);
}

TEST(UpstreamLive, CheckVerdictsChangeStateOnce) {
    RouteTable t = pool_of(2, PassiveHealth{3, 1000, 2000}, true);
    UpstreamLive live(t);
    ServerLive& s = live.server(0, 1);
    EXPECT_EQ(live.set_check_verdict(s, true, 10), HealthChange::none);  // up from the start
    EXPECT_EQ(live.set_check_verdict(s, false, 20), HealthChange::down);
    EXPECT_EQ(live.set_check_verdict(s, false, 30), HealthChange::none);
    EXPECT_EQ(s.went_down.load(), 1u);
    Candidate c[2];
    live.candidates(0, t.pools()[0], 0, 40, c);
    EXPECT_EQ(c[1].weight, 0u);
    // Every picker leaves it alone.
    RoundRobin rr(t.pools()[0]);
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(rr.next(std::span<const Candidate>(c, 2)), 0);
    EXPECT_EQ(pick_least_conn(std::span<const Candidate>(c, 2), 1), 0);
    EXPECT_EQ(live.set_check_verdict(s, true, 1000), HealthChange::up);
    EXPECT_EQ(live.effective_weight(s, 1, 2000), kWeightScale / 2);  // slow start from 1000
    EXPECT_EQ(live.effective_weight(s, 1, 3000), kWeightScale);
}
