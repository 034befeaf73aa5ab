#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "io/timer_wheel.hpp"

using wsgate::io::TimerWheel;

namespace {
std::vector<uint32_t> advance(TimerWheel& w, uint32_t now) {
    std::vector<uint32_t> fired;
    w.advance(now, [&](uint32_t id) { fired.push_back(id); });
    return fired;
}
}  // namespace

TEST(TimerWheel, FiresAtDeadlineNotBefore) {
    TimerWheel w(16);
    w.schedule(3, 5);
    EXPECT_TRUE(advance(w, 4).empty());
    EXPECT_TRUE(w.scheduled(3));
    EXPECT_EQ(advance(w, 5), std::vector<uint32_t>{3});
    EXPECT_FALSE(w.scheduled(3));
    EXPECT_TRUE(advance(w, 6).empty());
}

TEST(TimerWheel, DeadlineBeyondOneTurnWaitsForItsRound) {
    TimerWheel w(8);
    w.schedule(1, 20);  // same slot as 4 and 12
    EXPECT_TRUE(advance(w, 4).empty());
    EXPECT_TRUE(advance(w, 12).empty());
    EXPECT_TRUE(advance(w, 19).empty());
    EXPECT_EQ(advance(w, 20), std::vector<uint32_t>{1});
}

TEST(TimerWheel, LargeJumpFiresEverythingDue) {
    TimerWheel w(8);
    for (uint32_t id = 0; id < 10; ++id)
        w.schedule(id, id + 1);
    w.schedule(10, 1000);
    auto fired = advance(w, 100);
    EXPECT_EQ(fired.size(), 10u);
    EXPECT_TRUE(w.scheduled(10));
    EXPECT_EQ(w.pending(), 1u);
}

TEST(TimerWheel, CancelAndReschedule) {
    TimerWheel w(16);
    w.schedule(1, 3);
    w.schedule(2, 3);
    w.cancel(1);
    w.schedule(2, 7);  // replaces the earlier deadline
    EXPECT_TRUE(advance(w, 5).empty());
    EXPECT_EQ(advance(w, 7), std::vector<uint32_t>{2});
    EXPECT_EQ(w.pending(), 0u);
}

TEST(TimerWheel, PastDeadlineFiresOnNextAdvance) {
    TimerWheel w(16);
    advance(w, 10);
    w.schedule(4, 2);
    EXPECT_EQ(advance(w, 10), std::vector<uint32_t>{4});
}

TEST(TimerWheel, FireMayRescheduleItselfAndCancelOthers) {
    TimerWheel w(16);
    w.schedule(1, 2);
    w.schedule(2, 2);
    std::vector<uint32_t> fired;
    w.advance(2, [&](uint32_t id) {
        fired.push_back(id);
        w.cancel(id == 1 ? 2 : 1);
        w.schedule(id, 4);
    });
    ASSERT_EQ(fired.size(), 1u);  // the first fired cancelled the other
    EXPECT_TRUE(w.scheduled(fired[0]));
    EXPECT_EQ(advance(w, 4), fired);
}

TEST(TimerWheel, NextBusyTickIsTheNearestScheduledSlot) {
    TimerWheel w(128);  // two bitmap words
    EXPECT_EQ(w.next_busy_tick(), TimerWheel::kNoTimer);
    w.schedule(1, 100);
    EXPECT_EQ(w.next_busy_tick(), 100u);
    w.schedule(2, 70);
    EXPECT_EQ(w.next_busy_tick(), 70u);
    w.cancel(2);
    EXPECT_EQ(w.next_busy_tick(), 100u);
    EXPECT_TRUE(advance(w, 90).empty());
    EXPECT_EQ(w.next_busy_tick(), 100u);
    w.schedule(3, 200);  // slot 72, after the wheel wraps
    EXPECT_EQ(advance(w, 100), std::vector<uint32_t>{1});
    EXPECT_EQ(w.next_busy_tick(), 200u);
    EXPECT_EQ(advance(w, 200), std::vector<uint32_t>{3});
    EXPECT_EQ(w.next_busy_tick(), TimerWheel::kNoTimer);
}

TEST(TimerWheel, NextBusyTickIsALowerBoundForLaterRounds) {
    TimerWheel w(8);
    w.schedule(1, 21);  // slot 5, two rounds ahead
    EXPECT_EQ(w.next_busy_tick(), 5u);
    EXPECT_TRUE(advance(w, 5).empty());
    EXPECT_EQ(w.next_busy_tick(), 13u);
    EXPECT_TRUE(advance(w, 13).empty());
    EXPECT_EQ(w.next_busy_tick(), 21u);
    w.schedule(2, 3);  // in the past: due now
    EXPECT_EQ(w.next_busy_tick(), 13u);
    EXPECT_EQ(advance(w, 13), std::vector<uint32_t>{2});
    EXPECT_EQ(w.next_busy_tick(), 21u);  // the current slot's timer is next round's
}

TEST(TimerWheel, NextBusyTickAgreesWithAScanAtEveryPosition) {
    for (uint32_t now = 0; now < 300; now += 7) {
        for (uint32_t ahead = 0; ahead <= 256; ahead += 4) {
            TimerWheel w(256);
            advance(w, now);
            w.schedule(9, now + ahead);
            w.schedule(8, now + 255);
            EXPECT_EQ(w.next_busy_tick(), now + std::min(ahead, 255u)) << now << " " << ahead;
        }
    }
}
