#include "proto/centrifugo_recovery.hpp"

#include <gtest/gtest.h>

namespace wsgate::proto::centrifugo {
namespace {

constexpr uint64_t kLimit = 300;

TEST(CentrifugoRecovery, NothingMissed) {
    StreamBounds s{"ep", 14, 5};
    RecoveryPlan p = plan_recovery(14, "ep", s, kLimit);
    EXPECT_TRUE(p.recovered);
    EXPECT_EQ(p.count(), 0u);
    // A channel that never had a publication: offset 0 is its top.
    p = plan_recovery(0, "ep", StreamBounds{"ep", 0, 0}, kLimit);
    EXPECT_TRUE(p.recovered);
    EXPECT_EQ(p.count(), 0u);
}

TEST(CentrifugoRecovery, MissedPublicationsStillHeld) {
    StreamBounds s{"ep", 14, 5};
    RecoveryPlan p = plan_recovery(10, "ep", s, kLimit);
    EXPECT_TRUE(p.recovered);
    EXPECT_EQ(p.first, 11u);
    EXPECT_EQ(p.last, 14u);
    EXPECT_EQ(p.count(), 4u);
    // The oldest held is exactly the first missed one.
    p = plan_recovery(4, "ep", s, kLimit);
    EXPECT_TRUE(p.recovered);
    EXPECT_EQ(p.first, 5u);
}

TEST(CentrifugoRecovery, HistoryNoLongerHoldsThem) {
    StreamBounds s{"ep", 14, 5};
    RecoveryPlan p = plan_recovery(3, "ep", s, kLimit);  // 4 was dropped
    EXPECT_FALSE(p.recovered);
    EXPECT_EQ(p.count(), 0u);  // no partial stream: the SDK reports the loss
    p = plan_recovery(10, "ep", StreamBounds{"ep", 14, 0}, kLimit);  // history off or expired
    EXPECT_FALSE(p.recovered);
    EXPECT_EQ(p.count(), 0u);
}

TEST(CentrifugoRecovery, EpochChanged) {
    StreamBounds s{"new", 14, 1};
    EXPECT_FALSE(plan_recovery(14, "old", s, kLimit).recovered);
    EXPECT_FALSE(plan_recovery(10, "old", s, kLimit).recovered);
    // An empty epoch is not "any epoch": the SDK's invalidation sentinel
    // ("_") and a client that never had one both fail to recover.
    EXPECT_FALSE(plan_recovery(14, "", s, kLimit).recovered);
    EXPECT_FALSE(plan_recovery(14, "_", s, kLimit).recovered);
}

TEST(CentrifugoRecovery, ClientAheadOfTheStream) {
    EXPECT_FALSE(plan_recovery(15, "ep", StreamBounds{"ep", 14, 1}, kLimit).recovered);
}

TEST(CentrifugoRecovery, TooManyMissed) {
    StreamBounds s{"ep", 1000, 1};
    EXPECT_TRUE(plan_recovery(700, "ep", s, kLimit).recovered);   // exactly 300
    EXPECT_FALSE(plan_recovery(699, "ep", s, kLimit).recovered);  // 301
    EXPECT_EQ(plan_recovery(699, "ep", s, kLimit).count(), 0u);
}

TEST(CentrifugoRecovery, LargestOffsets) {
    StreamBounds s{"ep", UINT64_MAX, UINT64_MAX - 1};
    RecoveryPlan p = plan_recovery(UINT64_MAX - 2, "ep", s, kLimit);
    EXPECT_TRUE(p.recovered);
    EXPECT_EQ(p.count(), 2u);
    static_assert(plan_recovery(1, "e", StreamBounds{"e", 3, 2}, 10).count() == 2);
}

}  // namespace
}  // namespace wsgate::proto::centrifugo
