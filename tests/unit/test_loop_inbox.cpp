#include <gtest/gtest.h>
#include <liburing.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "io/loop_inbox.hpp"
#include "io/mpsc_ring.hpp"
#include "io/msg_ring.hpp"
#include "io/ring_setup.hpp"

using wsgate::io::LoopInbox;
using wsgate::io::MpscRing;
using wsgate::io::PostResult;

namespace {
struct Message {
    uint32_t producer = 0;
    uint32_t seq = 0;
    uint64_t payload = 0;
};
static_assert(wsgate::io::RingMessage<Message>);

// What a consumer saw: per producer, the next sequence number expected.
struct Tally {
    explicit Tally(size_t producers) : next(producers, 0) {}
    void take(const Message& m) {
        if (m.producer >= next.size() || m.seq != next[m.producer] ||
            m.payload != uint64_t{m.producer} * 1000003 + m.seq) {
            ++errors;
        } else {
            ++next[m.producer];
        }
        ++taken;
    }
    std::vector<uint32_t> next;
    size_t taken = 0;
    size_t errors = 0;  // out of order, duplicated or corrupted
};

Message make(uint32_t producer, uint32_t seq) {
    return Message{producer, seq, uint64_t{producer} * 1000003 + seq};
}

// Waits until fd is readable (at most timeout_ms); reads the eventfd count.
bool wait_eventfd(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    uint64_t v;
    return read(fd, &v, sizeof(v)) == sizeof(v);
}
}  // namespace

TEST(MpscRing, FullAtCapacityAndFifoAcrossWrapAround) {
    MpscRing<Message> ring(5);  // rounded up to 8
    EXPECT_EQ(ring.capacity(), 8u);
    uint32_t pushed = 0;
    uint32_t popped = 0;
    for (int round = 0; round < 1000; ++round) {
        while (ring.try_push(make(0, pushed)))
            ++pushed;
        EXPECT_EQ(pushed - popped, 8u);
        Message m;
        for (int k = 0; k < 3 + round % 6; ++k) {
            ASSERT_TRUE(ring.try_pop(m));
            ASSERT_EQ(m.seq, popped++);
        }
    }
    Message m;
    while (ring.try_pop(m))
        ASSERT_EQ(m.seq, popped++);
    EXPECT_EQ(popped, pushed);
    EXPECT_FALSE(ring.try_pop(m));
}

TEST(MpscRing, ManyProducersLoseNothingAndKeepEachProducersOrder) {
    constexpr uint32_t kProducers = 4;
    constexpr uint32_t kEach = 50000;
    MpscRing<Message> ring(256);  // small: producers often find it full
    std::atomic<bool> go{false};
    std::atomic<bool> stop{false};  // the consumer gave up: producers end too
    std::vector<std::thread> producers;
    for (uint32_t p = 0; p < kProducers; ++p) {
        producers.emplace_back([&, p] {
            while (!go.load())
                std::this_thread::yield();
            for (uint32_t i = 0; i < kEach && !stop.load(); ++i) {
                while (!ring.try_push(make(p, i)) && !stop.load())
                    std::this_thread::yield();
            }
        });
    }
    Tally tally(kProducers);
    go.store(true);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    Message m;
    while (tally.taken < kProducers * kEach && std::chrono::steady_clock::now() < deadline) {
        if (ring.try_pop(m)) {
            tally.take(m);
        } else {
            std::this_thread::yield();
        }
    }
    stop.store(true);
    for (auto& t : producers)
        t.join();
    EXPECT_EQ(tally.taken, kProducers * kEach);
    EXPECT_EQ(tally.errors, 0u);
    EXPECT_FALSE(ring.try_pop(m));  // and nothing extra
}

TEST(LoopInbox, OneWakeOwedPerBatchUntilTheLoopDrains) {
    LoopInbox<Message> inbox(1024);
    ASSERT_EQ(inbox.open(), 0);
    int owed = 0;
    for (uint32_t i = 0; i < 1000; ++i) {
        PostResult r = inbox.post(make(0, i));
        ASSERT_NE(r, PostResult::full);
        owed += r == PostResult::queued_wake_owed;
    }
    EXPECT_EQ(owed, 1);
    Tally tally(1);
    EXPECT_EQ(inbox.drain([&](const Message& m) { tally.take(m); }), 1000u);
    EXPECT_EQ(tally.errors, 0u);
    // After the drain the next post owes a wake again.
    EXPECT_EQ(inbox.post(make(0, 1000)), PostResult::queued_wake_owed);
    EXPECT_EQ(inbox.post(make(0, 1001)), PostResult::queued);
}

TEST(LoopInbox, FullInboxRefusesWithoutLosingWhatItHolds) {
    LoopInbox<Message> inbox(4);
    ASSERT_EQ(inbox.open(), 0);
    for (uint32_t i = 0; i < 4; ++i)
        ASSERT_NE(inbox.post(make(0, i)), PostResult::full);
    EXPECT_EQ(inbox.post(make(0, 4)), PostResult::full);
    Tally tally(1);
    EXPECT_EQ(inbox.drain([&](const Message& m) { tally.take(m); }), 4u);
    EXPECT_EQ(tally.errors, 0u);
}

TEST(LoopInbox, ADrainIsBoundedAndPostsDuringItOweANewWake) {
    LoopInbox<Message> inbox(4);
    ASSERT_EQ(inbox.open(), 0);
    for (uint32_t i = 0; i < 4; ++i)
        ASSERT_NE(inbox.post(make(0, i)), PostResult::full);
    uint32_t next = 4;
    // A message handler that posts again (a producer that never stops).
    size_t n =
        inbox.drain([&](const Message&) { ASSERT_TRUE(inbox.post_and_signal(make(0, next++))); });
    EXPECT_EQ(n, 4u);                             // bounded: the four posted during the drain wait
    EXPECT_EQ(inbox.wake().eventfd_wakes(), 1u);  // one wake for those four
    EXPECT_TRUE(wait_eventfd(inbox.wake().event_fd(), 0));
    Tally tally(1);
    tally.next[0] = 4;
    EXPECT_EQ(inbox.drain([&](const Message& m) { tally.take(m); }), 4u);
    EXPECT_EQ(tally.errors, 0u);
}

// Producers on threads, the consumer drains only when its eventfd fires: a
// lost wake would leave messages stranded and the test would time out.
TEST(LoopInbox, ThreadedProducersEventfdWakesCoalescedNoneLost) {
    constexpr uint32_t kProducers = 4;
    constexpr uint32_t kEach = 20000;
    LoopInbox<Message> inbox(512);
    ASSERT_EQ(inbox.open(), 0);
    std::atomic<bool> stop{false};  // the consumer gave up: producers end too
    std::vector<std::thread> producers;
    for (uint32_t p = 0; p < kProducers; ++p) {
        producers.emplace_back([&, p] {
            for (uint32_t i = 0; i < kEach && !stop.load(); ++i) {
                while (!inbox.post_and_signal(make(p, i)) && !stop.load())
                    std::this_thread::yield();
            }
        });
    }
    Tally tally(kProducers);
    size_t wakes_seen = 0;
    while (tally.taken < kProducers * kEach) {
        if (!wait_eventfd(inbox.wake().event_fd(), 10000)) break;  // stranded: fail below
        ++wakes_seen;
        inbox.drain([&](const Message& m) { tally.take(m); });
    }
    stop.store(true);
    for (auto& t : producers)
        t.join();
    EXPECT_EQ(tally.taken, kProducers * kEach);
    EXPECT_EQ(tally.errors, 0u);
    const uint64_t wakes = inbox.wake().eventfd_wakes();
    EXPECT_LE(wakes, tally.taken);
    EXPECT_GE(wakes, wakes_seen);
    std::printf("eventfd: %zu messages, %llu wakes (%.1f messages per wake)\n", tally.taken,
                static_cast<unsigned long long>(wakes),
                static_cast<double>(tally.taken) / static_cast<double>(wakes));
}

// Between io_uring loops the wake is a MSG_RING completion posted into the
// consumer's ring, which is set up with the loop's own flags.
TEST(LoopInbox, ThreadedProducersMsgRingWakes) {
    io_uring consumer{};
    unsigned flags = 0;
    int rc = wsgate::io::create_ring(consumer, 64, &flags);
    if (rc != 0) GTEST_SKIP() << "io_uring unavailable: " << rc;
    if (!wsgate::io::msg_ring_supported(consumer)) {
        io_uring_queue_exit(&consumer);
        GTEST_SKIP() << "IORING_OP_MSG_RING unsupported (kernel < 5.18)";
    }
    constexpr uint32_t kProducers = 3;
    constexpr uint32_t kEach = 20000;
    constexpr uint64_t kWakeData = 0x77;
    LoopInbox<Message> inbox(512);
    ASSERT_EQ(inbox.open(), 0);
    inbox.wake().set_ring_fd(consumer.ring_fd);
    std::atomic<int> failed_ring_wakes{0};
    std::atomic<bool> stop{false};  // the consumer gave up: producers end too
    std::vector<std::thread> producers;
    for (uint32_t p = 0; p < kProducers; ++p) {
        producers.emplace_back([&, p] {
            io_uring own{};
            unsigned f = 0;
            if (wsgate::io::create_ring(own, 8, &f) != 0) {
                failed_ring_wakes.fetch_add(1);
                return;
            }
            for (uint32_t i = 0; i < kEach && !stop.load(); ++i) {
                PostResult r;
                while ((r = inbox.post(make(p, i))) == PostResult::full && !stop.load())
                    std::this_thread::yield();
                if (r != PostResult::queued_wake_owed) continue;
                io_uring_sqe* sqe = io_uring_get_sqe(&own);
                wsgate::io::prep_ring_wake(sqe, inbox.wake().ring_fd(), kWakeData, 1);
                io_uring_submit_and_wait(&own, 1);
                io_uring_cqe* cqe;
                io_uring_wait_cqe(&own, &cqe);
                if (cqe->res < 0) {
                    failed_ring_wakes.fetch_add(1);
                    inbox.wake().signal_eventfd();  // the documented fallback
                } else {
                    inbox.wake().count_ring_wake();
                }
                io_uring_cqe_seen(&own, cqe);
            }
            io_uring_queue_exit(&own);
        });
    }
    Tally tally(kProducers);
    size_t ring_wakes_seen = 0;
    while (tally.taken < kProducers * kEach) {
        __kernel_timespec ts{10, 0};
        io_uring_cqe* cqe = nullptr;
        if (io_uring_wait_cqe_timeout(&consumer, &cqe, &ts) != 0) break;  // stranded
        ASSERT_EQ(cqe->user_data, kWakeData);
        io_uring_cqe_seen(&consumer, cqe);
        ++ring_wakes_seen;
        inbox.drain([&](const Message& m) { tally.take(m); });
    }
    stop.store(true);
    for (auto& t : producers)
        t.join();
    // Wakes claimed after the consumer had already taken those messages
    // (harmless, spurious) may still be arriving: count them too.
    for (;;) {
        __kernel_timespec ts{0, 50 * 1000 * 1000};
        io_uring_cqe* cqe = nullptr;
        if (io_uring_wait_cqe_timeout(&consumer, &cqe, &ts) != 0) break;
        io_uring_cqe_seen(&consumer, cqe);
        ++ring_wakes_seen;
    }
    inbox.wake().set_ring_fd(-1);
    io_uring_queue_exit(&consumer);
    EXPECT_EQ(failed_ring_wakes.load(), 0);
    EXPECT_EQ(tally.taken, kProducers * kEach);
    EXPECT_EQ(tally.errors, 0u);
    EXPECT_EQ(inbox.wake().ring_wakes(), ring_wakes_seen);
    EXPECT_EQ(inbox.wake().eventfd_wakes(), 0u);
    std::printf("MSG_RING (ring flags 0x%x): %zu messages, %zu wakes (%.1f messages per wake)\n",
                flags, tally.taken, ring_wakes_seen,
                static_cast<double>(tally.taken) / static_cast<double>(ring_wakes_seen));
}
