#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "io/out_queue.hpp"
#include "io/shared_bytes.hpp"
#include "out_queue_text.hpp"
#include "proto/frame_writer.hpp"
#include "ws/shared_frame.hpp"

using wsgate::io::ChunkPool;
using wsgate::io::LendRelease;
using wsgate::io::OutQueue;
using wsgate::io::SharedBytes;
using wsgate::io::SharedBytesRef;
using wsgate::proto::Opcode;
using wsgate::test::gathered;
using wsgate::ws::make_shared_frame;

namespace {

std::vector<uint8_t> payload_of(size_t n) {
    std::vector<uint8_t> p(n);
    for (size_t i = 0; i < n; ++i)
        p[i] = static_cast<uint8_t>(i * 31 + 7);
    return p;
}

std::string expected_frame(Opcode opcode, const std::vector<uint8_t>& payload) {
    uint8_t header[wsgate::proto::kMaxServerFrameHeader];
    size_t n = wsgate::proto::write_frame_header(header, opcode, true, false, payload.size());
    std::string s(reinterpret_cast<char*>(header), n);
    s.append(payload.begin(), payload.end());
    return s;
}

// Clears every queue and checks the pool holds nothing afterwards.
void clear_all(std::vector<OutQueue>& queues, ChunkPool& pool) {
    for (OutQueue& q : queues)
        q.clear(pool);
    EXPECT_EQ(pool.outstanding(), 0u);
}
}  // namespace

TEST(SharedFrame, SerialisesHeaderAndPayloadOnce) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{125}, size_t{126}, size_t{65535},
                        size_t{65536}, size_t{200000}}) {
        auto payload = payload_of(size);
        SharedBytesRef frame = make_shared_frame(Opcode::binary, payload);
        std::string bytes(reinterpret_cast<char*>(frame->data()), frame->size());
        EXPECT_EQ(bytes, expected_frame(Opcode::binary, payload)) << size;
        EXPECT_EQ(frame->references(), 1u);
    }
}

TEST(SharedFrame, OneFrameOnTenThousandQueuesIsNeverCopied) {
    const size_t live_before = SharedBytes::live_on_this_thread();
    ChunkPool pool;
    std::vector<OutQueue> queues(10000);
    auto payload = payload_of(4096);
    const std::string expect = expected_frame(Opcode::text, payload);
    {
        SharedBytesRef frame = make_shared_frame(Opcode::text, payload);
        for (OutQueue& q : queues)
            q.append_shared(pool, *frame.get());
        EXPECT_EQ(frame->references(), 10001u);
        EXPECT_EQ(SharedBytes::live_on_this_thread(), live_before + 1);  // one buffer in all
        // Zero copies: every queue's iovec points at the one buffer's bytes.
        size_t copies = 0;
        for (const OutQueue& q : queues) {
            iovec iov[4];
            ASSERT_EQ(q.gather(iov, 4), 1u);
            if (iov[0].iov_base != frame->data() || iov[0].iov_len != frame->size()) ++copies;
            EXPECT_EQ(q.size(), expect.size());
            EXPECT_EQ(q.lent_chunks(), 0u);  // holds no receive buffer
        }
        EXPECT_EQ(copies, 0u);
        EXPECT_EQ(gathered(queues[1234]), expect);
    }
    // The application dropped its reference; the queues keep the frame alive.
    EXPECT_EQ(SharedBytes::live_on_this_thread(), live_before + 1);
    clear_all(queues, pool);
    EXPECT_EQ(SharedBytes::live_on_this_thread(), live_before);
}

TEST(SharedFrame, PartialSendsDropTheReferenceOnlyWhenTheFrameIsOut) {
    ChunkPool pool;
    auto payload = payload_of(1000);
    SharedBytesRef frame = make_shared_frame(Opcode::binary, payload);
    const std::string expect = "pre" + expected_frame(Opcode::binary, payload) + "post";
    std::mt19937 rng(5);
    std::vector<OutQueue> queues(50);
    for (OutQueue& q : queues) {
        q.append(pool, "pre", 3);
        q.append_shared(pool, *frame.get());
        q.append(pool, "post", 4);
    }
    ASSERT_EQ(frame->references(), 51u);
    // Each queue is drained in random-sized sends, interleaved across queues.
    std::vector<size_t> sent(queues.size(), 0);
    bool busy = true;
    while (busy) {
        busy = false;
        for (size_t i = 0; i < queues.size(); ++i) {
            OutQueue& q = queues[i];
            if (q.empty()) continue;
            busy = true;
            ASSERT_EQ(gathered(q), expect.substr(sent[i]));
            size_t n = std::min<size_t>(q.size(), 1 + rng() % 300);
            bool frame_done_before = sent[i] >= 3 + frame->size();
            q.consume(pool, n);
            sent[i] += n;
            bool frame_done_after = sent[i] >= 3 + frame->size();
            if (!frame_done_before && frame_done_after) {
                // This queue's reference went with the frame's last byte.
                size_t done = 0;
                for (size_t k = 0; k < queues.size(); ++k)
                    done += sent[k] >= 3 + frame->size();
                EXPECT_EQ(frame->references(), 1u + queues.size() - done);
            }
        }
    }
    EXPECT_EQ(frame->references(), 1u);
    EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(SharedFrame, FreedWhenTheLastQueueDropsItInAnyOrder) {
    const size_t live_before = SharedBytes::live_on_this_thread();
    for (int order = 0; order < 3; ++order) {
        ChunkPool pool;
        std::vector<OutQueue> queues(8);
        SharedBytes* raw;
        {
            SharedBytesRef frame = make_shared_frame(Opcode::text, payload_of(10));
            raw = frame.get();
            for (OutQueue& q : queues)
                q.append_shared(pool, *raw);
        }  // the creator lets go first
        std::vector<size_t> idx(queues.size());
        for (size_t i = 0; i < idx.size(); ++i)
            idx[i] = i;
        if (order == 1) std::reverse(idx.begin(), idx.end());
        if (order == 2) std::shuffle(idx.begin(), idx.end(), std::mt19937(order));
        for (size_t k = 0; k < idx.size(); ++k) {
            EXPECT_EQ(SharedBytes::live_on_this_thread(), live_before + 1);
            EXPECT_EQ(raw->references(), queues.size() - k);
            if (k % 2 == 0) {
                queues[idx[k]].clear(pool);  // connection closed with the frame queued
            } else {
                queues[idx[k]].consume(pool, queues[idx[k]].size());  // sent
            }
        }
        EXPECT_EQ(SharedBytes::live_on_this_thread(), live_before);
        EXPECT_EQ(pool.outstanding(), 0u);
    }
}

TEST(SharedFrame, SameFrameTwiceInOneQueue) {
    ChunkPool pool;
    OutQueue q;
    auto payload = payload_of(3);
    SharedBytesRef frame = make_shared_frame(Opcode::binary, payload);
    q.append_shared(pool, *frame.get());
    q.append_shared(pool, *frame.get());
    EXPECT_EQ(frame->references(), 3u);
    std::string one = expected_frame(Opcode::binary, payload);
    EXPECT_EQ(gathered(q), one + one);
    q.consume(pool, one.size() + 1);
    EXPECT_EQ(frame->references(), 2u);
    q.clear(pool);
    EXPECT_EQ(frame->references(), 1u);
}

TEST(SharedFrame, ReceiveBufferLendingIsTheOtherCaseOfTheSamePath) {
    struct Released {
        std::vector<uint32_t> ids;
    } released;
    ChunkPool pool;
    pool.set_lend_release(LendRelease{
        [](void* ctx, uint32_t id) { static_cast<Released*>(ctx)->ids.push_back(id); }, &released});
    std::string lent = "LENT";
    SharedBytesRef frame = make_shared_frame(Opcode::text, payload_of(5));
    OutQueue q;
    q.append_lent(pool, reinterpret_cast<uint8_t*>(lent.data()), lent.size(), 42);
    q.append_shared(pool, *frame.get());
    q.append(pool, "own", 3);
    EXPECT_EQ(q.lent_chunks(), 1u);  // only the receive buffer counts against the ring
    q.consume(pool, lent.size());
    EXPECT_EQ(released.ids, std::vector<uint32_t>{42});
    EXPECT_EQ(q.lent_chunks(), 0u);
    EXPECT_EQ(frame->references(), 2u);
    q.consume(pool, frame->size());
    EXPECT_EQ(frame->references(), 1u);
    EXPECT_EQ(released.ids, std::vector<uint32_t>{42});  // the shared chunk released no buffer
    EXPECT_EQ(gathered(q), "own");
    q.clear(pool);
    EXPECT_EQ(pool.outstanding(), 0u);
}
