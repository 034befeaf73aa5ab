// wsload pubsub's per-stream checks: lost, duplicate and reordered publications,
// and the hub's offsets.
#include <gtest/gtest.h>

#include <initializer_list>

#include "sequence_tracker.hpp"

using namespace wsgate::bench;

namespace {

SequenceCounts run(std::initializer_list<std::uint64_t> seqs, std::uint64_t published) {
    SequenceTracker t;
    SequenceCounts c;
    for (const std::uint64_t s : seqs)
        t.deliver(s, c);
    t.finish(published, c);
    return c;
}

}  // namespace

TEST(WsloadSequenceTracker, InOrderIsClean) {
    const SequenceCounts c = run({1, 2, 3, 4, 5}, 5);
    EXPECT_EQ(c.lost, 0u);
    EXPECT_EQ(c.duplicates, 0u);
    EXPECT_EQ(c.reordered, 0u);
}

TEST(WsloadSequenceTracker, GapsAndTailAreLost) {
    EXPECT_EQ(run({1, 4, 5}, 5).lost, 2u);
    EXPECT_EQ(run({2, 3}, 3).lost, 1u);  // the first one
    EXPECT_EQ(run({1, 2}, 5).lost, 3u);  // the tail
    EXPECT_EQ(run({}, 4).lost, 4u);
}

TEST(WsloadSequenceTracker, LateArrivalIsReorderedNotLost) {
    const SequenceCounts c = run({1, 3, 2, 4}, 4);
    EXPECT_EQ(c.lost, 0u);
    EXPECT_EQ(c.reordered, 1u);
    EXPECT_EQ(c.duplicates, 0u);
    const SequenceCounts far = run({1, 100, 2}, 100);  // beyond the window: still late
    EXPECT_EQ(far.reordered, 1u);
    EXPECT_EQ(far.lost, 97u);
}

TEST(WsloadSequenceTracker, RepeatsAreDuplicates) {
    const SequenceCounts c = run({1, 2, 2, 3, 1, 3}, 3);
    EXPECT_EQ(c.duplicates, 3u);
    EXPECT_EQ(c.lost, 0u);
    EXPECT_EQ(c.reordered, 0u);
    // A late one delivered twice: reordered once, then a duplicate.
    const SequenceCounts d = run({1, 3, 2, 2}, 3);
    EXPECT_EQ(d.reordered, 1u);
    EXPECT_EQ(d.duplicates, 1u);
    EXPECT_EQ(d.lost, 0u);
    EXPECT_EQ(run({0}, 0).duplicates, 1u);  // 0 is never published
}

TEST(WsloadSequenceTracker, WindowFollowsLongGaps) {
    SequenceTracker t;
    SequenceCounts c;
    t.deliver(1, c);
    t.deliver(70, c);  // a gap longer than the window
    t.deliver(70, c);
    t.deliver(69, c);
    t.deliver(71, c);
    t.deliver(69, c);
    EXPECT_EQ(c.duplicates, 2u);
    EXPECT_EQ(c.reordered, 1u);
    EXPECT_EQ(c.lost, 67u);  // 2..68
}

TEST(WsloadOffsetTracker, EachOffsetIsOneMore) {
    OffsetTracker t;
    t.start_at(10);
    EXPECT_TRUE(t.deliver(11));
    EXPECT_TRUE(t.deliver(12));
    EXPECT_FALSE(t.deliver(14));  // a gap
    EXPECT_TRUE(t.deliver(15));
    EXPECT_FALSE(t.deliver(15));  // a repeat
    OffsetTracker fresh;          // no subscribe position: the first one starts it
    EXPECT_TRUE(fresh.deliver(42));
    EXPECT_TRUE(fresh.deliver(43));
    EXPECT_FALSE(fresh.deliver(42));
}
