#include <gtest/gtest.h>

#include "ws/memory_release.hpp"

using wsgate::ws::MemoryReleaseTimer;

TEST(MemoryReleaseTimer, SteadyOrGrowingLoadNeverReleases) {
    MemoryReleaseTimer t(10, 64);
    for (uint32_t tick = 0; tick < 1000; ++tick)
        EXPECT_FALSE(t.note(100 + tick, tick));
    EXPECT_EQ(t.due_tick(), MemoryReleaseTimer::kNotDue);
}

TEST(MemoryReleaseTimer, HalvingReleasesAfterTheDelayOnce) {
    MemoryReleaseTimer t(10, 64);
    EXPECT_FALSE(t.note(1000, 0));
    EXPECT_FALSE(t.note(400, 5));  // fell below half: due at 15
    EXPECT_EQ(t.due_tick(), 15u);
    EXPECT_FALSE(t.note(0, 14));
    EXPECT_TRUE(t.note(0, 15));
    EXPECT_EQ(t.due_tick(), MemoryReleaseTimer::kNotDue);
    for (uint32_t tick = 16; tick < 100; ++tick)
        EXPECT_FALSE(t.note(0, tick)) << tick;
}

TEST(MemoryReleaseTimer, SmallDropsAreNotWorthIt) {
    MemoryReleaseTimer t(1, 64);
    EXPECT_FALSE(t.note(100, 0));
    EXPECT_FALSE(t.note(40, 1));  // 60 < 64
    EXPECT_EQ(t.due_tick(), MemoryReleaseTimer::kNotDue);
    EXPECT_FALSE(t.note(1000, 2));
    EXPECT_FALSE(t.note(600, 3));  // 400: less than half of 1000
    EXPECT_EQ(t.due_tick(), MemoryReleaseTimer::kNotDue);
}

TEST(MemoryReleaseTimer, PeakRestartsAfterARelease) {
    MemoryReleaseTimer t(1, 10);
    t.note(100, 0);
    t.note(10, 1);
    EXPECT_TRUE(t.note(10, 2));
    // The peak is now 10: falling from 10 to 5 is below min_drop, from 40 to 10 is not.
    EXPECT_FALSE(t.note(5, 3));
    EXPECT_EQ(t.due_tick(), MemoryReleaseTimer::kNotDue);
    t.note(40, 4);
    t.note(10, 5);
    EXPECT_EQ(t.due_tick(), 6u);
}
