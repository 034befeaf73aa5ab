// The Prometheus text writer (format 0.0.4): HELP/TYPE lines, label and
// HELP escaping, cumulative histogram buckets ending with +Inf, _sum and
// _count; and the per-loop counters it renders (close code slots, turn
// histogram buckets, phase gauges).
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "gateway/gateway_metrics.hpp"
#include "gateway/prometheus_text.hpp"
#include "ws/loop_metrics.hpp"

using wsgate::gateway::PrometheusText;

TEST(PrometheusText, FamilyHeaderAndPlainSample) {
    PrometheusText out;
    out.family("wsgate_x_total", "Things counted.", "counter");
    out.sample("wsgate_x_total", {}, uint64_t{42});
    EXPECT_EQ(out.text(),
              "# HELP wsgate_x_total Things counted.\n"
              "# TYPE wsgate_x_total counter\n"
              "wsgate_x_total 42\n");
}

TEST(PrometheusText, HelpEscapesBackslashAndNewlineOnly) {
    PrometheusText out;
    out.family("m", "a \\ b\nc \"quoted\"", "gauge");
    EXPECT_EQ(out.text(), "# HELP m a \\\\ b\\nc \"quoted\"\n# TYPE m gauge\n");
}

TEST(PrometheusText, LabelValuesEscaped) {
    PrometheusText out;
    out.sample("m", {{"a", "x\"y"}, {"b", "back\\slash"}, {"c", "two\nlines"}}, int64_t{-3});
    EXPECT_EQ(out.text(), "m{a=\"x\\\"y\",b=\"back\\\\slash\",c=\"two\\nlines\"} -3\n");
}

TEST(PrometheusText, DoublesUseGoSpellings) {
    std::string s;
    PrometheusText::append_double(s, 0.25);
    s += ' ';
    PrometheusText::append_double(s, 1e-5);
    s += ' ';
    PrometheusText::append_double(s, 1.0 / 0.0);
    s += ' ';
    PrometheusText::append_double(s, -1.0 / 0.0);
    s += ' ';
    PrometheusText::append_double(s, 0.0 / 0.0);
    EXPECT_EQ(s, "0.25 1e-05 +Inf -Inf NaN");
}

TEST(PrometheusText, HistogramCumulativeWithInfSumCount) {
    PrometheusText out;
    std::array<double, 3> bounds = {0.001, 0.01, 0.1};
    std::array<uint64_t, 4> counts = {2, 0, 5, 1};  // per bucket; the last: above 0.1
    out.histogram("h_seconds", {{"loop", "0"}}, bounds, counts, 1.5);
    EXPECT_EQ(out.text(),
              "h_seconds_bucket{loop=\"0\",le=\"0.001\"} 2\n"
              "h_seconds_bucket{loop=\"0\",le=\"0.01\"} 2\n"
              "h_seconds_bucket{loop=\"0\",le=\"0.1\"} 7\n"
              "h_seconds_bucket{loop=\"0\",le=\"+Inf\"} 8\n"
              "h_seconds_sum{loop=\"0\"} 1.5\n"
              "h_seconds_count{loop=\"0\"} 8\n");
}

TEST(PrometheusText, HistogramWithoutObservations) {
    PrometheusText out;
    std::array<double, 1> bounds = {1};
    std::array<uint64_t, 2> counts = {0, 0};
    out.histogram("h", {}, bounds, counts, 0);
    EXPECT_EQ(out.text(), "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}

TEST(LoopMetrics, CloseCodeSlotsAreBoundedAndRoundTrip) {
    using wsgate::ws::CloseCodeCounts;
    for (uint16_t code : {1000, 1001, 1005, 1015, 3000, 3008, 3013, 3500, 3509}) {
        size_t slot = CloseCodeCounts::slot(code);
        ASSERT_LT(slot, CloseCodeCounts::kOther) << code;
        EXPECT_EQ(CloseCodeCounts::code_of(slot), code);
    }
    for (uint16_t code : {0, 999, 1016, 2999, 3014, 3499, 3510, 4000, 65535})
        EXPECT_EQ(CloseCodeCounts::slot(code), CloseCodeCounts::kOther) << code;
    CloseCodeCounts counts;
    counts.count(4123);
    counts.count(1000);
    counts.count(1000);
    EXPECT_EQ(counts.get(CloseCodeCounts::kOther), 1u);
    EXPECT_EQ(counts.get(CloseCodeCounts::slot(1000)), 2u);
}

TEST(LoopMetrics, TurnHistogramBucketsByUpperBound) {
    wsgate::ws::TurnHistogram h;
    h.observe_ns(0);              // <= 50 us
    h.observe_ns(50'000);         // exactly 50 us: le="0.00005"
    h.observe_ns(50'999);         // 50 us (microsecond resolution)
    h.observe_ns(51'000);         // 51 us: the 100 us bucket
    h.observe_ns(2'000'000'000);  // 2 s: +Inf
    EXPECT_EQ(h.bucket(0), 3u);
    EXPECT_EQ(h.bucket(1), 1u);
    EXPECT_EQ(h.bucket(wsgate::ws::TurnHistogram::kBuckets - 1), 1u);
    EXPECT_EQ(h.sum_ns(), 0u + 50'000 + 50'999 + 51'000 + 2'000'000'000);
}

TEST(LoopMetrics, RenderedSumsLoopsAndParses) {
    wsgate::ws::LoopMetrics a, b;
    a.backend = "io_uring";
    b.backend = "epoll";
    a.change_phase(wsgate::ws::ConnPhase::handshaking, wsgate::ws::ConnPhase::websocket);
    b.change_phase(wsgate::ws::ConnPhase::handshaking, wsgate::ws::ConnPhase::websocket);
    a.refused(426);
    b.refused(426);
    b.refused(999);  // out of range: counted as 599, not lost
    a.in.count_message(wsgate::ws::MessageKind::text);
    a.by_listener[1].opened();
    b.by_listener[1].opened();
    b.by_listener[wsgate::ws::LoopMetrics::kOutboundSlot].opened();
    wsgate::gateway::LoopMetricsRegistry registry(2);
    registry.attach(0, &a);
    registry.attach(1, &b);
    const std::vector<std::string> listeners = {"0.0.0.0:80", "[::1]:81"};
    std::string text = wsgate::gateway::render_metrics({&registry, nullptr, true, &listeners});
    EXPECT_NE(text.find("wsgate_listener_connections{listener=\"0.0.0.0:80\"} 0\n"),
              std::string::npos);
    EXPECT_NE(text.find("wsgate_listener_connections{listener=\"[::1]:81\"} 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("wsgate_listener_accepted_total{listener=\"outbound\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("wsgate_loop_info{loop=\"0\",backend=\"io_uring\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("wsgate_loop_info{loop=\"1\",backend=\"epoll\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("wsgate_connections{state=\"websocket\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("wsgate_connections{state=\"handshaking\"} -2\n"), std::string::npos);
    EXPECT_NE(text.find("wsgate_handshakes_total{status=\"426\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("wsgate_handshakes_total{status=\"599\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("wsgate_messages_received_total{kind=\"text\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("wsgate_ready 1\n"), std::string::npos);
    registry.detach(1);
    text = wsgate::gateway::render_metrics({&registry, nullptr, false});
    EXPECT_EQ(text.find("backend=\"epoll\""), std::string::npos);
    EXPECT_NE(text.find("wsgate_ready 0\n"), std::string::npos);
}
