// The hub's per-loop channel table (XXH3-keyed open addressing with
// backward-shift deletion) and a channel's stream at its home (offsets,
// epoch, bounded history, expiry).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "pubsub/channel_stream.hpp"
#include "pubsub/channel_table.hpp"
#include "pubsub/hub_state.hpp"

using wsgate::pubsub::channel_hash;
using wsgate::pubsub::ChannelStream;
using wsgate::pubsub::LocalChannel;
using wsgate::pubsub::LoopChannels;
using wsgate::pubsub::PublicationRecord;
using wsgate::pubsub::PublicationRef;

TEST(ChannelTable, MatchesAMapUnderRandomChurn) {
    LoopChannels table;
    std::map<std::string, uint32_t> model;
    std::mt19937 rng(7);
    for (int step = 0; step < 200000; ++step) {
        std::string name = "ch:" + std::to_string(rng() % 3000);
        uint64_t h = channel_hash(name);
        uint32_t id = table.find(name, h);
        auto it = model.find(name);
        ASSERT_EQ(id == LoopChannels::kNone, it == model.end()) << name;
        if (it != model.end()) {
            ASSERT_EQ(id, it->second);
        }
        if (id == LoopChannels::kNone) {
            model[name] = table.insert(name, h);
        } else if (rng() % 2 == 0) {
            table.erase(id);
            model.erase(name);
        }
        ASSERT_EQ(table.size(), model.size());
    }
    for (auto& [name, id] : model) {
        EXPECT_EQ(table.find(name, channel_hash(name)), id);
        EXPECT_EQ(table[id].name, name);
    }
}

TEST(ChannelTable, CollidingHashesAreToldApartByName) {
    LoopChannels table;
    // Same hash on purpose: one probe run, then deletions from its middle.
    uint32_t a = table.insert("a", 5), b = table.insert("b", 5), c = table.insert("c", 5);
    EXPECT_EQ(table.find("b", 5), b);
    table.erase(b);
    EXPECT_EQ(table.find("a", 5), a);
    EXPECT_EQ(table.find("b", 5), LoopChannels::kNone);
    EXPECT_EQ(table.find("c", 5), c);
}

namespace {
PublicationRef pub(uint64_t offset, int64_t time_ms) {
    wsgate::proto::centrifugo::Publication p;
    p.data = "{\"x\":1}";
    p.offset = offset;
    return PublicationRef(PublicationRecord::create("news", channel_hash("news"), p, time_ms));
}
}  // namespace

TEST(ChannelStream, OffsetsHistoryBoundsAndExpiry) {
    size_t live = PublicationRecord::live();
    {
        ChannelStream s(3, 1000, 42);
        EXPECT_EQ(s.next_offset(), 1u);
        for (uint64_t o = 1; o <= 5; ++o)
            s.append(o, pub(o, int64_t(o) * 100));
        EXPECT_EQ(s.top(), 5u);
        auto b = s.bounds();
        EXPECT_EQ(b.oldest, 3u);  // three kept
        EXPECT_EQ(b.top, 5u);
        EXPECT_EQ(s.at(4)->offset(), 4u);
        EXPECT_EQ(s.at(2), nullptr);
        EXPECT_EQ(s.at(4)->object(), "{\"data\":{\"x\":1},\"offset\":4}");
        s.expire(1350);  // offset 3 (t=300) is 1050 ms old
        EXPECT_EQ(s.bounds().oldest, 4u);
        s.expire(5000);
        EXPECT_TRUE(s.history_empty());
        EXPECT_EQ(s.top(), 5u);  // the position survives its history
        ChannelStream other(3, 1000, 43);
        EXPECT_NE(s.epoch(), other.epoch());
    }
    EXPECT_EQ(PublicationRecord::live(), live);
}

TEST(ChannelStream, WithoutHistoryKeepsOnlyThePosition) {
    ChannelStream s(0, 1000, 1);
    s.append(1, pub(0, 0));
    s.append(2, pub(0, 0));
    EXPECT_EQ(s.top(), 2u);
    EXPECT_TRUE(s.history_empty());
    EXPECT_EQ(s.bounds().oldest, 0u);
}
