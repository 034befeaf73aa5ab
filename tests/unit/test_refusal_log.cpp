// The refusal log: first refusal of a status per window in full, the rest as
// one summary line, counts adding up; each status on its own.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <sstream>
#include <string>

#include "ws/refusal_log.hpp"

using wsgate::ws::RefusalLog;

namespace {
// Collects what the log writes.
class Capture {
  public:
    Capture() { out_ = open_memstream(&buf_, &len_); }
    ~Capture() {
        if (out_ != nullptr) std::fclose(out_);
        std::free(buf_);
    }
    FILE* out() { return out_; }
    std::string text() {
        std::fflush(out_);
        return std::string(buf_, len_);
    }

  private:
    char* buf_ = nullptr;
    size_t len_ = 0;
    FILE* out_ = nullptr;
};

size_t lines(const std::string& s) {
    size_t n = 0;
    for (char ch : s)
        n += ch == '\n';
    return n;
}

// Sum of refusals of `status` the lines report (full lines count 1).
unsigned long long reported(const std::string& s, int status) {
    unsigned long long n = 0;
    std::istringstream in(s);
    std::string line;
    std::regex full("wsgate: refused fd -?[0-9]+: ([0-9]+) .*");
    std::regex summary("wsgate: refused ([0-9]+) more with ([0-9]+) in the last .*");
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_match(line, m, full) && std::stoi(m[1]) == status) ++n;
        if (std::regex_match(line, m, summary) && std::stoi(m[2]) == status) n += std::stoull(m[1]);
    }
    return n;
}
}  // namespace

TEST(RefusalLog, FirstRefusalIsLoggedInFullAtOnce) {
    Capture c;
    RefusalLog log(1000);
    log.note(c.out(), 5000, 7, 400, "missing Host header");
    EXPECT_EQ(c.text(), "wsgate: refused fd 7: 400 missing Host header\n");
    EXPECT_EQ(log.next_due_ms(), RefusalLog::kNothingDue);  // nothing held back
}

TEST(RefusalLog, FloodInOneWindowGivesOneSummaryWithTheLatestReason) {
    Capture c;
    RefusalLog log(1000);
    log.note(c.out(), 0, 3, 400, "first");
    for (int ms = 1; ms < 1000; ++ms)
        log.note(c.out(), ms, 4, 400, ms == 999 ? "latest" : "middle");
    EXPECT_EQ(lines(c.text()), 1u);
    EXPECT_EQ(log.next_due_ms(), 1000);
    log.flush_due(c.out(), 999);
    EXPECT_EQ(lines(c.text()), 1u);
    log.flush_due(c.out(), 1000);
    std::string t = c.text();
    EXPECT_EQ(lines(t), 2u);
    EXPECT_NE(t.find("wsgate: refused 999 more with 400 in the last 1.0 s (latest: latest)\n"),
              std::string::npos)
        << t;
    EXPECT_EQ(log.next_due_ms(), RefusalLog::kNothingDue);
    // The next refusal opens a new window: in full again.
    log.note(c.out(), 1200, 5, 400, "again");
    EXPECT_NE(c.text().find("refused fd 5: 400 again\n"), std::string::npos);
}

TEST(RefusalLog, SummaryIsWrittenBeforeTheNextWindowsFullLine) {
    Capture c;
    RefusalLog log(1000);
    log.note(c.out(), 0, 1, 431, "request head too large");
    log.note(c.out(), 10, 2, 431, "request head too large");
    log.note(c.out(), 1500, 3, 431, "request head too large");  // no flush_due in between
    std::string t = c.text();
    EXPECT_EQ(lines(t), 3u);
    EXPECT_LT(t.find("refused 1 more with 431 in the last 1.5 s"), t.find("refused fd 3"));
}

TEST(RefusalLog, StatusesAreThrottledApartAndCountsAddUp) {
    Capture c;
    RefusalLog log(1000);
    const int statuses[] = {400, 408, 431, 503, 429};
    unsigned long long sent[5] = {};
    // 20 s of refusals, 50 per ms-step of 7 ms, cycling through the statuses.
    int64_t now = 0;
    for (int i = 0; i < 20000; ++i) {
        now = i;
        int k = (i * 7) % 5;
        log.note(c.out(), now, i, statuses[k], "reason");
        ++sent[k];
        if (i % 100 == 0) log.flush_due(c.out(), now);
    }
    log.flush_all(c.out(), now);
    std::string t = c.text();
    for (int k = 0; k < 5; ++k)
        EXPECT_EQ(reported(t, statuses[k]), sent[k]) << statuses[k];
    // At most a full line and a summary per status per second begun.
    EXPECT_LE(lines(t), 5u * 2 * 21);
    EXPECT_GE(lines(t), 5u * 2 * 19);
}

TEST(RefusalLog, FlushAllWritesWhatIsHeldAndOnlyOnce) {
    Capture c;
    RefusalLog log(1000);
    log.flush_all(c.out(), 0);
    EXPECT_EQ(c.text(), "");
    log.note(c.out(), 0, 1, 503, "too many connections");
    log.note(c.out(), 1, 2, 503, "too many connections");
    log.flush_all(c.out(), 400);
    log.flush_all(c.out(), 500);
    std::string t = c.text();
    EXPECT_EQ(lines(t), 2u);
    EXPECT_NE(t.find("refused 1 more with 503 in the last 0.4 s"), std::string::npos) << t;
}
