#include <gtest/gtest.h>

#include <set>

#include "io/slot_pool.hpp"

using wsgate::io::SlotPool;

namespace {
struct Counted {
    static inline int live = 0;
    explicit Counted(int v) : value(v) { ++live; }
    ~Counted() { --live; }
    int value;
};
}  // namespace

TEST(SlotPool, AllocatesUpToCapacity) {
    SlotPool<Counted> pool(3);
    std::set<uint32_t> ids;
    for (int i = 0; i < 3; ++i)
        ids.insert(pool.allocate(i));
    EXPECT_EQ(ids.size(), 3u);
    EXPECT_EQ(pool.allocate(9), SlotPool<Counted>::kNone);
    EXPECT_EQ(pool.size(), 3u);
    EXPECT_EQ(Counted::live, 3);
}

TEST(SlotPool, StaleGenerationDoesNotResolve) {
    SlotPool<Counted> pool(2);
    uint32_t a = pool.allocate(1);
    uint32_t gen = pool.generation(a);
    ASSERT_NE(pool.find(a, gen), nullptr);
    EXPECT_EQ(pool.find(a, gen)->value, 1);
    pool.release(a);
    EXPECT_EQ(pool.find(a, gen), nullptr);
    uint32_t b = pool.allocate(2);
    EXPECT_EQ(b, a);  // the freed slot is reused first
    EXPECT_EQ(pool.find(b, gen), nullptr);
    EXPECT_NE(pool.find(b, pool.generation(b)), nullptr);
}

TEST(SlotPool, DestroysRecordsAndVisitsOnlyLiveOnes) {
    Counted::live = 0;
    {
        SlotPool<Counted> pool(4);
        uint32_t a = pool.allocate(1);
        pool.allocate(2);
        pool.allocate(3);
        pool.release(a);
        EXPECT_EQ(Counted::live, 2);
        int sum = 0;
        pool.for_each([&](uint32_t, Counted& c) { sum += c.value; });
        EXPECT_EQ(sum, 5);
    }
    EXPECT_EQ(Counted::live, 0);
}

TEST(SlotPool, LargeCapacityCostsNothingUpFront) {
    SlotPool<Counted> pool(1u << 22);  // reserve only: pages are touched on use
    EXPECT_NE(pool.allocate(7), SlotPool<Counted>::kNone);
}
