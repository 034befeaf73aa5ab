// The refusal log: first refusal of a status per window in full, the rest as
// one summary line, counts adding up; each status on its own.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

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

// The unsigned number at the start of `s` (0 when none), and where it ends.
unsigned long long leading_number(std::string_view s, size_t* end) {
    unsigned long long n = 0;
    size_t i = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i)
        n = n * 10 + static_cast<unsigned>(s[i] - '0');
    *end = i;
    return n;
}

// Sum of refusals of `status` the lines report (full lines count 1):
// "wsgate: refused fd F: STATUS reason" and
// "wsgate: refused N more with STATUS in the last ...".
unsigned long long reported(const std::string& s, int status) {
    constexpr std::string_view kFull = "wsgate: refused fd ";
    constexpr std::string_view kSummary = "wsgate: refused ";
    unsigned long long n = 0;
    std::istringstream in(s);
    std::string text;
    while (std::getline(in, text)) {
        std::string_view line = text;
        size_t end = 0;
        if (line.starts_with(kFull)) {
            size_t colon = line.find(": ", kFull.size());
            if (colon == std::string_view::npos) continue;
            std::string_view rest = line.substr(colon + 2);
            if (leading_number(rest, &end) == static_cast<unsigned>(status) && end > 0) ++n;
        } else if (line.starts_with(kSummary)) {
            std::string_view rest = line.substr(kSummary.size());
            unsigned long long count = leading_number(rest, &end);
            rest = rest.substr(end);
            constexpr std::string_view kMore = " more with ";
            if (end == 0 || !rest.starts_with(kMore)) continue;
            rest = rest.substr(kMore.size());
            if (leading_number(rest, &end) == static_cast<unsigned>(status) && end > 0 &&
                rest.substr(end).starts_with(" in the last "))
                n += count;
        }
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
