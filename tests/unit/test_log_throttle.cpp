#include <gtest/gtest.h>

#include "ws/log_throttle.hpp"

using wsgate::ws::LogThrottle;

TEST(LogThrottle, FirstEventLogsAtOnce) {
    LogThrottle t(1000);
    EXPECT_EQ(t.note(5000), 1u);
    EXPECT_EQ(t.covered_ms(), 0);
}

TEST(LogThrottle, FloodWithinIntervalGivesOneLineWithTheCount) {
    LogThrottle t(1000);
    EXPECT_EQ(t.note(0), 1u);
    int lines = 0;
    for (int64_t ms = 1; ms < 1000; ++ms)
        lines += t.note(ms) != 0;
    EXPECT_EQ(lines, 0);
    EXPECT_EQ(t.note(1000), 1000u);  // 999 held back + this one
    EXPECT_EQ(t.covered_ms(), 1000);
    EXPECT_EQ(t.note(1500), 0u);
}

TEST(LogThrottle, TakeReportsWhatIsHeldBackOnce) {
    LogThrottle t(1000);
    EXPECT_EQ(t.take(0), 0u);
    EXPECT_EQ(t.note(0), 1u);
    EXPECT_EQ(t.note(10), 0u);
    EXPECT_EQ(t.note(20), 0u);
    EXPECT_EQ(t.take(300), 2u);
    EXPECT_EQ(t.covered_ms(), 300);
    EXPECT_EQ(t.take(400), 0u);
    // The interval counts from that last line.
    EXPECT_EQ(t.note(1200), 0u);
    EXPECT_EQ(t.note(1300), 2u);
}

TEST(LogThrottle, SparseEventsEachLogAtOnce) {
    LogThrottle t(1000);
    EXPECT_EQ(t.note(0), 1u);
    EXPECT_EQ(t.note(2000), 1u);
    EXPECT_EQ(t.covered_ms(), 2000);
    EXPECT_EQ(t.note(3000), 1u);
}
