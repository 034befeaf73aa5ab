// The log (io/log.hpp): JSON lines that parse whatever the message holds,
// text lines in the "wsgate: ..." shape, levels, and the per-thread rate
// limit with its "(suppressed K similar lines ...)" summaries.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "io/log.hpp"

namespace io = wsgate::io;

namespace {

// Collects what the log writes, and restores the defaults afterwards.
class LogCapture {
  public:
    LogCapture(io::LogFormat format, io::LogLevel level) {
        out_ = open_memstream(&buf_, &len_);
        io::set_log_output(out_);
        io::set_log_format(format);
        io::set_log_level(level);
    }
    ~LogCapture() {
        io::log_flush_all();
        io::set_log_output(nullptr);
        io::set_log_format(io::LogFormat::text);
        io::set_log_level(io::LogLevel::info);
        std::fclose(out_);
        std::free(buf_);
    }
    std::vector<std::string> lines() {
        std::fflush(out_);
        std::vector<std::string> out;
        std::string_view all(buf_, len_);
        while (!all.empty()) {
            size_t nl = all.find('\n');
            EXPECT_NE(nl, std::string_view::npos) << "every line ends with a newline";
            if (nl == std::string_view::npos) break;
            out.emplace_back(all.substr(0, nl));
            all.remove_prefix(nl + 1);
        }
        return out;
    }

  private:
    char* buf_ = nullptr;
    size_t len_ = 0;
    FILE* out_ = nullptr;
};

std::string escaped(std::string_view s) {
    std::string out(6 * s.size(), '\0');
    out.resize(io::json_escape(s, out.data(), out.size()));
    return out;
}

}  // namespace

TEST(JsonEscape, QuotesBackslashesAndControlCharacters) {
    EXPECT_EQ(escaped("plain"), "plain");
    EXPECT_EQ(escaped("a\"b\\c"), "a\\\"b\\\\c");
    EXPECT_EQ(escaped("l1\nl2\r\t"), "l1\\nl2\\r\\t");
    EXPECT_EQ(escaped(std::string_view("\x00\x01\x1f", 3)), "\\u0000\\u0001\\u001f");
}

TEST(JsonEscape, ValidUtf8KeptInvalidBytesReplaced) {
    EXPECT_EQ(escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
              "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    EXPECT_EQ(escaped("\xff"), "\\ufffd");
    EXPECT_EQ(escaped("\xc3"), "\\ufffd");                                   // truncated sequence
    EXPECT_EQ(escaped("\xc0\xaf"), "\\ufffd\\ufffd");                        // overlong
    EXPECT_EQ(escaped("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");             // a surrogate
    EXPECT_EQ(escaped("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd");  // > U+10FFFF
}

TEST(JsonEscape, StopsAtACharacterBoundaryWhenFull) {
    char out[5];
    EXPECT_EQ(io::json_escape("ab\"c", out, sizeof(out)), 5u);  // a b \ " c
    EXPECT_EQ(io::json_escape("a\n", out, 2), 1u);              // no half of "\n"
    EXPECT_EQ(io::json_escape("\xe2\x82\xac", out, 2), 0u);     // no half of a character
}

TEST(Log, TextLineKeepsTheWsgateShapeWithTheRequestIdLast) {
    LogCapture cap(io::LogFormat::text, io::LogLevel::info);
    io::log(io::LogLevel::info, "refused", io::RequestId{1, 12, 3}, {{"status", 400}},
            "refused fd %d: %d %s", 7, 400, "bad request");
    io::log(io::LogLevel::info, "", io::kNoConn, {}, "listening on %s", "x");
    auto lines = cap.lines();
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], "wsgate: refused fd 7: 400 bad request (conn 1.12.3)");
    EXPECT_EQ(lines[1], "wsgate: listening on x");
}

TEST(Log, JsonLineHasTheFieldsEscaped) {
    LogCapture cap(io::LogFormat::json, io::LogLevel::info);
    io::log(io::LogLevel::warn, "refused", io::RequestId{0, 5, 9},
            {{"fd", 7}, {"reason", "a \"quoted\"\n\xff"}}, "msg with \"%s\"", "quotes");
    auto lines = cap.lines();
    ASSERT_EQ(lines.size(), 1u);
    const std::string& l = lines[0];
    ASSERT_EQ(l.rfind("{\"ts\":\"", 0), 0u) << l;
    // "2026-12-03T19:40:00.123Z"
    EXPECT_EQ(l[7 + 4], '-');
    EXPECT_EQ(l[7 + 10], 'T');
    EXPECT_EQ(l[7 + 23], 'Z');
    EXPECT_NE(l.find(",\"level\":\"warn\",\"msg\":\"msg with \\\"quotes\\\"\",\"conn\":\"0.5.9\","
                     "\"event\":\"refused\",\"fd\":7,\"reason\":\"a \\\"quoted\\\"\\n\\ufffd\"}"),
              std::string::npos)
        << l;
}

TEST(Log, LevelsFilter) {
    LogCapture cap(io::LogFormat::text, io::LogLevel::warn);
    io::log(io::LogLevel::debug, "", io::kNoConn, {}, "debug");
    io::log(io::LogLevel::info, "", io::kNoConn, {}, "info");
    io::log(io::LogLevel::warn, "", io::kNoConn, {}, "warn");
    io::log(io::LogLevel::error, "", io::kNoConn, {}, "error");
    EXPECT_EQ(cap.lines(), (std::vector<std::string>{"wsgate: warn", "wsgate: error"}));
    EXPECT_FALSE(io::log_enabled(io::LogLevel::info));
}

TEST(Log, ParsesLevelAndFormatNames) {
    io::LogLevel level{};
    EXPECT_TRUE(io::parse_log_level("debug", &level));
    EXPECT_EQ(level, io::LogLevel::debug);
    EXPECT_FALSE(io::parse_log_level("verbose", &level));
    io::LogFormat format{};
    EXPECT_TRUE(io::parse_log_format("json", &format));
    EXPECT_EQ(format, io::LogFormat::json);
    EXPECT_FALSE(io::parse_log_format("xml", &format));
    EXPECT_EQ(io::log_level_name(io::LogLevel::warn), "warn");
}

constexpr io::LogEvent kFloodEvent{"flood", io::LogLevel::info};
constexpr io::LogEvent kOtherEvent{"other", io::LogLevel::info};

TEST(LogLimited, AFloodGivesTheBudgetThenOneSummaryWithTheRest) {
    LogCapture cap(io::LogFormat::text, io::LogLevel::info);
    const uint64_t before = io::log_lines_suppressed();
    int written = 0;
    for (int i = 0; i < 1000; ++i)
        written += io::log_limited(kFloodEvent, 400, io::RequestId{0, 1, 0}, {}, "line %d", i);
    // Another kind (and another key of the same kind) has a budget of its own.
    EXPECT_TRUE(io::log_limited(kOtherEvent, 0, io::kNoConn, {}, "other"));
    EXPECT_TRUE(io::log_limited(kFloodEvent, 431, io::kNoConn, {}, "431"));
    EXPECT_EQ(written, static_cast<int>(io::kLimitedLinesPerWindow));
    EXPECT_GE(io::log_ms_to_next_summary(), 0);
    EXPECT_LE(io::log_ms_to_next_summary(), io::kLogWindowMs);
    io::log_flush_all();
    EXPECT_EQ(io::log_ms_to_next_summary(), -1);
    auto lines = cap.lines();
    ASSERT_EQ(lines.size(), io::kLimitedLinesPerWindow + 3);
    EXPECT_EQ(lines[0], "wsgate: line 0 (conn 0.1.0)");
    EXPECT_EQ(
        lines.back().rfind("wsgate: flood 400: (suppressed 995 similar lines in the last ", 0), 0u)
        << lines.back();
    EXPECT_EQ(io::log_lines_suppressed() - before, 995u);
}

TEST(LogLimited, TheNextWindowStartsAfterTheIntervalWithTheSummaryFirst) {
    LogCapture cap(io::LogFormat::json, io::LogLevel::info);
    for (uint32_t i = 0; i < io::kLimitedLinesPerWindow + 3; ++i)
        io::log_limited(kFloodEvent, 0, io::kNoConn, {}, "a");
    std::this_thread::sleep_for(std::chrono::milliseconds(io::kLogWindowMs + 50));
    EXPECT_EQ(io::log_ms_to_next_summary(), 0);
    EXPECT_TRUE(io::log_limited(kFloodEvent, 0, io::kNoConn, {}, "b"));
    auto lines = cap.lines();
    ASSERT_EQ(lines.size(), io::kLimitedLinesPerWindow + 2);
    const std::string& summary = lines[io::kLimitedLinesPerWindow];
    EXPECT_NE(summary.find("\"msg\":\"flood: (suppressed 3 similar lines in the last "),
              std::string::npos)
        << summary;
    EXPECT_NE(summary.find("\"event\":\"flood\",\"suppressed\":3}"), std::string::npos) << summary;
    EXPECT_NE(lines.back().find("\"msg\":\"b\""), std::string::npos);
}

TEST(LogLimited, DisabledLevelCountsNothing) {
    LogCapture cap(io::LogFormat::text, io::LogLevel::warn);
    const uint64_t before = io::log_lines_suppressed();
    for (int i = 0; i < 100; ++i)
        EXPECT_FALSE(io::log_limited(kFloodEvent, 1, io::kNoConn, {}, "x"));
    EXPECT_EQ(io::log_ms_to_next_summary(), -1);
    EXPECT_TRUE(cap.lines().empty());
    EXPECT_EQ(io::log_lines_suppressed(), before);
}

TEST(LogLimited, EachThreadHasItsOwnBudget) {
    LogCapture cap(io::LogFormat::text, io::LogLevel::info);
    int here = 0;
    for (int i = 0; i < 20; ++i)
        here += io::log_limited(kFloodEvent, 7, io::kNoConn, {}, "here");
    int there = 0;
    std::thread t([&] {
        for (int i = 0; i < 20; ++i)
            there += io::log_limited(kFloodEvent, 7, io::kNoConn, {}, "there");
        io::log_flush_all();
    });
    t.join();
    EXPECT_EQ(here, static_cast<int>(io::kLimitedLinesPerWindow));
    EXPECT_EQ(there, static_cast<int>(io::kLimitedLinesPerWindow));
}
