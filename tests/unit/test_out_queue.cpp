#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/out_queue.hpp"
#include "out_queue_text.hpp"

using wsgate::io::ChunkPool;
using wsgate::io::OutQueue;
using wsgate::test::gathered;

TEST(OutQueue, KeepsOrderAcrossChunks) {
    ChunkPool pool;
    OutQueue q;
    std::string expect;
    for (int i = 0; i < 5000; ++i) {
        std::string piece = std::to_string(i) + ",";
        q.append(pool, piece.data(), piece.size());
        expect += piece;
    }
    std::string big(40000, 'z');
    q.append(pool, big.data(), big.size());
    expect += big;
    EXPECT_EQ(q.size(), expect.size());
    EXPECT_EQ(gathered(q), expect);
    EXPECT_GT(pool.outstanding(), 2u);
    q.clear(pool);
    EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutQueue, ConsumePartialThenAllReturnsChunks) {
    ChunkPool pool;
    OutQueue q;
    std::string data(50000, 'a');
    for (size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<char>('a' + i % 26);
    q.append(pool, data.data(), data.size());
    q.consume(pool, 17000);
    EXPECT_EQ(gathered(q), data.substr(17000));
    q.consume(pool, q.size());
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(pool.outstanding(), 0u);
    q.append(pool, "x", 1);
    EXPECT_EQ(gathered(q), "x");
    q.clear(pool);
    EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutQueue, GatherStopsAtMax) {
    ChunkPool pool;
    OutQueue q;
    std::string data(3 * wsgate::io::kLargeChunkBytes, 'q');
    q.append(pool, data.data(), data.size());
    iovec iov[2];
    EXPECT_EQ(q.gather(iov, 2), 2u);
    q.clear(pool);
}

TEST(OutQueue, SmallAppendThenBulkKeepsBytesInOrder) {
    ChunkPool pool;
    OutQueue q;
    std::string header = "\x82\x7e";
    std::string bulk(20000, 'b');
    q.append(pool, header.data(), header.size());
    q.append(pool, bulk.data(), bulk.size());
    EXPECT_EQ(gathered(q), header + bulk);
    q.consume(pool, 1);
    EXPECT_EQ(gathered(q), (header + bulk).substr(1));
    q.clear(pool);
    EXPECT_EQ(pool.outstanding(), 0u);
}

namespace {
struct Released {
    std::vector<uint32_t> ids;
    static void release(void* self, uint32_t id) {
        static_cast<Released*>(self)->ids.push_back(id);
    }
};
}  // namespace

TEST(OutQueue, LentBytesAreReferencedInOrderAndGivenBackOnceSent) {
    ChunkPool pool;
    Released released;
    pool.set_lend_release({&Released::release, &released});
    OutQueue q;
    std::string lent1 = "LENT-ONE";
    std::string lent2 = "lent-two!";
    q.append(pool, "h1", 2);
    q.append_lent(pool, reinterpret_cast<uint8_t*>(lent1.data()), lent1.size(), 7);
    q.append(pool, "h2", 2);  // after a lent chunk: a new owned chunk, order kept
    q.append_lent(pool, reinterpret_cast<uint8_t*>(lent2.data()), lent2.size(), 9);
    EXPECT_EQ(q.lent_chunks(), 2u);
    EXPECT_EQ(gathered(q), "h1LENT-ONEh2lent-two!");
    iovec iov[8];
    ASSERT_EQ(q.gather(iov, 8), 4u);
    EXPECT_EQ(iov[1].iov_base, lent1.data());  // referenced, not copied
    q.consume(pool, 5);                        // part of the first lent chunk
    EXPECT_TRUE(released.ids.empty());
    EXPECT_EQ(gathered(q), "T-ONEh2lent-two!");
    q.consume(pool, 5);
    EXPECT_EQ(released.ids, std::vector<uint32_t>{7});
    EXPECT_EQ(q.lent_chunks(), 1u);
    q.clear(pool);  // a dropped connection gives back what it still held
    EXPECT_EQ(released.ids, (std::vector<uint32_t>{7, 9}));
    EXPECT_EQ(q.lent_chunks(), 0u);
    EXPECT_EQ(pool.outstanding(), 0u);
}
