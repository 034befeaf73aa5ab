// The provided-buffer ring against a real io_uring: a multishot-free recv
// with buffer select must land in a ring buffer, and recycled buffers must
// be handed out again. Skipped where io_uring is unavailable.
#include <gtest/gtest.h>
#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

#include "io/buffer_ring.hpp"
#include "io/ring_setup.hpp"
#include "io/user_data.hpp"

using namespace wsgate::io;

TEST(UserData, RoundTrips) {
    uint64_t v = pack_user_data(Op::send, 123456, 0xABCDEF);
    UserData u = unpack_user_data(v);
    EXPECT_EQ(u.op, Op::send);
    EXPECT_EQ(u.index, 123456u);
    EXPECT_EQ(u.generation, 0xABCDEFu);
    EXPECT_EQ(unpack_user_data(pack_user_data(Op::recv, 1, 0x1FFFFFF)).generation, 0xFFFFFFu);
}

TEST(BufferRing, RejectsBadCounts) {
    int err = 0;
    if (!probe_io_uring(&err)) GTEST_SKIP() << "io_uring unavailable: " << strerror(-err);
    io_uring ring;
    unsigned flags = 0;
    ASSERT_EQ(create_ring(ring, 8, &flags), 0);
    BufferRing br;
    EXPECT_EQ(br.init(ring, 1, 100, 64), -EINVAL);
    EXPECT_EQ(br.init(ring, 1, 0, 64), -EINVAL);
    io_uring_queue_exit(&ring);
}

TEST(BufferRing, RecvSelectsRingBuffersAndRecycles) {
    int err = 0;
    if (!probe_io_uring(&err)) GTEST_SKIP() << "io_uring unavailable: " << strerror(-err);
    io_uring ring;
    unsigned flags = 0;
    ASSERT_EQ(create_ring(ring, 8, &flags), 0);
    {
        BufferRing br;
        ASSERT_EQ(br.init(ring, 3, 2, 64), 0);  // two buffers only
        int sv[2];
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        for (int round = 0; round < 5; ++round) {  // more rounds than buffers: needs recycling
            std::string msg = "round " + std::to_string(round);
            ASSERT_EQ(write(sv[1], msg.data(), msg.size()), static_cast<ssize_t>(msg.size()));
            io_uring_sqe* sqe = io_uring_get_sqe(&ring);
            io_uring_prep_recv(sqe, sv[0], nullptr, 64, 0);
            sqe->flags |= IOSQE_BUFFER_SELECT;
            sqe->buf_group = 3;
            io_uring_cqe* cqe = nullptr;
            ASSERT_EQ(io_uring_submit_and_wait(&ring, 1), 1);
            ASSERT_EQ(io_uring_peek_cqe(&ring, &cqe), 0);
            ASSERT_EQ(cqe->res, static_cast<int>(msg.size()));
            ASSERT_TRUE(cqe->flags & IORING_CQE_F_BUFFER);
            auto bid = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
            EXPECT_LT(bid, 2);
            EXPECT_EQ(std::string_view(reinterpret_cast<char*>(br.buffer(bid)), msg.size()), msg);
            io_uring_cqe_seen(&ring, cqe);
            br.recycle(bid);
            EXPECT_EQ(br.publish(), 1);
        }
        close(sv[0]);
        close(sv[1]);
    }
    io_uring_queue_exit(&ring);
}

// held() is a running count (read every loop turn for the metrics): it must
// follow delivery, extra holds and releases exactly.
TEST(BufferRing, HeldCountsBuffersWithReferences) {
    int err = 0;
    if (!probe_io_uring(&err)) GTEST_SKIP() << "io_uring unavailable: " << strerror(-err);
    io_uring ring;
    unsigned flags = 0;
    ASSERT_EQ(create_ring(ring, 8, &flags), 0);
    {
        BufferRing br;
        ASSERT_EQ(br.init(ring, 4, 4, 64), 0);
        EXPECT_EQ(br.held(), 0u);
        br.delivered(1);
        br.delivered(2);
        EXPECT_EQ(br.held(), 2u);
        br.hold(1);  // lent: a second reference
        br.release(1);
        EXPECT_EQ(br.held(), 2u);
        br.release(1);
        EXPECT_EQ(br.held(), 1u);
        br.release(2);
        EXPECT_EQ(br.held(), 0u);
        EXPECT_EQ(br.publish(), 2);  // both went back to the ring
    }
    io_uring_queue_exit(&ring);
}
