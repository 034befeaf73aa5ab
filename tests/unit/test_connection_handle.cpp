#include <gtest/gtest.h>

#include <type_traits>

#include "io/slot_pool.hpp"
#include "ws/connection.hpp"
#include "ws/connection_handle.hpp"

using wsgate::io::kGenerationMask;
using wsgate::io::SlotPool;
using wsgate::ws::ConnectionHandle;
using wsgate::ws::resolve;

static_assert(std::is_trivially_copyable_v<ConnectionHandle>);

TEST(ConnectionHandle, PacksLoopIndexAndGenerationInOneWord) {
    const uint32_t loops[] = {0, 1, 7, ConnectionHandle::kMaxLoops - 1};
    const uint32_t indexes[] = {0, 1, 123456, UINT32_MAX - 1};
    const uint32_t generations[] = {0, 1, 0xabcdef, kGenerationMask};
    for (uint32_t loop : loops) {
        for (uint32_t index : indexes) {
            for (uint32_t generation : generations) {
                ConnectionHandle h(loop, index, generation);
                EXPECT_EQ(h.loop(), loop);
                EXPECT_EQ(h.index(), index);
                EXPECT_EQ(h.generation(), generation);
                EXPECT_FALSE(h.empty());
                EXPECT_EQ(ConnectionHandle::from_bits(h.bits()), h);
            }
        }
    }
}

TEST(ConnectionHandle, DistinctFieldsGiveDistinctHandles) {
    ConnectionHandle a(1, 2, 3);
    EXPECT_NE(a, ConnectionHandle(0, 2, 3));
    EXPECT_NE(a, ConnectionHandle(1, 3, 3));
    EXPECT_NE(a, ConnectionHandle(1, 2, 4));
    EXPECT_TRUE(ConnectionHandle().empty());
}

namespace {
struct Record {
    explicit Record(int v) : value(v) {}
    int value;
};
}  // namespace

TEST(ConnectionHandle, ResolvesOnlyOnItsLoopWhileTheConnectionLives) {
    SlotPool<Record> pool(4);
    uint32_t i = pool.allocate(7);
    ConnectionHandle h(3, i, pool.generation(i));
    ASSERT_NE(resolve(pool, 3, h), nullptr);
    EXPECT_EQ(resolve(pool, 3, h)->value, 7);
    EXPECT_EQ(resolve(pool, 2, h), nullptr);  // another loop's table
    EXPECT_EQ(resolve(pool, 3, ConnectionHandle()), nullptr);
    EXPECT_EQ(resolve(pool, 3, ConnectionHandle(3, 3, 0)), nullptr);  // never allocated
}

TEST(ConnectionHandle, StaleHandleIsDetectedAfterTheSlotIsReused) {
    SlotPool<Record> pool(1);
    uint32_t i = pool.allocate(1);
    ConnectionHandle old(0, i, pool.generation(i));
    pool.release(i);
    EXPECT_EQ(resolve(pool, 0, old), nullptr);  // released
    uint32_t j = pool.allocate(2);
    ASSERT_EQ(j, i);  // same slot, new connection
    EXPECT_EQ(resolve(pool, 0, old), nullptr);
    ConnectionHandle fresh(0, j, pool.generation(j));
    ASSERT_NE(resolve(pool, 0, fresh), nullptr);
    EXPECT_EQ(resolve(pool, 0, fresh)->value, 2);
}

TEST(ConnectionHandle, StaleAcrossManyReusesUntilTheGenerationWraps) {
    SlotPool<Record> pool(1);
    uint32_t i = pool.allocate(0);
    ConnectionHandle old(0, i, pool.generation(i));
    pool.release(i);
    // The documented aliasing window: 2^24 reuses bring the generation back.
    for (uint32_t n = 1; n < kGenerationMask + 1; ++n) {
        i = pool.allocate(0);
        if (n % 4096 == 0) {
            ASSERT_EQ(resolve(pool, 0, old), nullptr) << n;
        }
        pool.release(i);
    }
    i = pool.allocate(0);
    EXPECT_NE(resolve(pool, 0, old), nullptr);
}

TEST(ConnectionHandle, ConnectionRecordCarriesOneWordOfApplicationState) {
    wsgate::proto::FrameDecoderConfig config;
    wsgate::ws::Connection c(config);
    EXPECT_EQ(c.app_state, 0u);
    static_assert(sizeof(c.app_state) == sizeof(uint64_t));
}
