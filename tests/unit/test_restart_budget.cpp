#include <gtest/gtest.h>

#include "gateway/restart_budget.hpp"

using wsgate::gateway::RestartBudget;

TEST(RestartBudget, AllowsUpToTheLimitWithinTheWindow) {
    RestartBudget b(3, 10000);
    EXPECT_TRUE(b.allow(0));
    EXPECT_TRUE(b.allow(100));
    EXPECT_TRUE(b.allow(200));
    EXPECT_FALSE(b.allow(300));
    EXPECT_FALSE(b.allow(9999));
}

TEST(RestartBudget, OldRestartsLeaveTheWindow) {
    RestartBudget b(2, 1000);
    EXPECT_TRUE(b.allow(0));
    EXPECT_TRUE(b.allow(500));
    EXPECT_FALSE(b.allow(999));
    EXPECT_TRUE(b.allow(1000));  // the restart at 0 is out of the window
    EXPECT_FALSE(b.allow(1400));
    EXPECT_TRUE(b.allow(1500));
}

TEST(RestartBudget, RareDeathsAreAlwaysRestarted) {
    RestartBudget b(1, 1000);
    for (int64_t t = 0; t < 100000; t += 1000)
        EXPECT_TRUE(b.allow(t)) << t;
}

TEST(RestartBudget, ZeroRestartsNeverAllows) {
    RestartBudget b(0, 1000);
    EXPECT_FALSE(b.allow(0));
}
