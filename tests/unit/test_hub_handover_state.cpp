// What the hub hands over in a live upgrade, below the loops: the byte
// format it is written in (pubsub/handover_bytes.hpp: a reader never reads
// past its input and fails on a short one), a publication record rebuilt
// from another process's encoding, and a stream adopted with its epoch,
// top and history (its newest history_size kept).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pubsub/channel_stream.hpp"
#include "pubsub/channel_table.hpp"
#include "pubsub/handover_bytes.hpp"
#include "pubsub/publication_record.hpp"

using wsgate::pubsub::channel_hash;
using wsgate::pubsub::ChannelStream;
using wsgate::pubsub::HandoverReader;
using wsgate::pubsub::HandoverWriter;
using wsgate::pubsub::PublicationRecord;
using wsgate::pubsub::PublicationRef;

namespace {

PublicationRef pub(uint64_t offset, int64_t time_ms) {
    wsgate::proto::centrifugo::Publication p;
    const std::string data = "{\"seq\":" + std::to_string(offset) + "}";  // p.data views it
    p.data = data;
    p.offset = offset;
    return PublicationRef(PublicationRecord::create("news", channel_hash("news"), p, time_ms));
}

// A client-like record: flags, a number, two strings, a count, a long string.
std::vector<uint8_t> sample() {
    std::vector<uint8_t> out;
    HandoverWriter w(out);
    w.put<uint8_t>(3);
    w.put<int64_t>(-42);
    w.put_short("0f1e2d3c-0000-0000-0001-000000000007");
    w.put_short("");
    w.put<uint16_t>(2);
    w.put_long(std::string(70000, 'x'));
    return out;
}

}  // namespace

TEST(HandoverBytes, ReadsBackWhatWasWritten) {
    std::vector<uint8_t> bytes = sample();
    HandoverReader r(bytes);
    EXPECT_EQ(r.get<uint8_t>(), 3);
    EXPECT_EQ(r.get<int64_t>(), -42);
    EXPECT_EQ(r.get_short(), "0f1e2d3c-0000-0000-0001-000000000007");
    EXPECT_EQ(r.get_short(), "");
    EXPECT_EQ(r.get<uint16_t>(), 2);
    EXPECT_EQ(r.get_long(), std::string(70000, 'x'));
    EXPECT_TRUE(r.done());
}

TEST(HandoverBytes, EveryShortInputFails) {
    std::vector<uint8_t> bytes = sample();
    for (size_t cut = 0; cut < bytes.size(); cut += cut < 64 ? 1 : 997) {
        // A copy of exactly `cut` bytes: ASan sees any read past it.
        std::vector<uint8_t> part(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(cut));
        HandoverReader r(part);
        r.get<uint8_t>();
        r.get<int64_t>();
        r.get_short();
        r.get_short();
        r.get<uint16_t>();
        std::string_view last = r.get_long();
        EXPECT_FALSE(r.ok()) << "cut at " << cut;
        EXPECT_TRUE(last.empty()) << "cut at " << cut;
    }
}

TEST(HandoverBytes, TrailingBytesAreNotDone) {
    std::vector<uint8_t> bytes = sample();
    bytes.push_back(0);
    HandoverReader r(bytes);
    r.get<uint8_t>();
    r.get<int64_t>();
    r.get_short();
    r.get_short();
    r.get<uint16_t>();
    r.get_long();
    EXPECT_TRUE(r.ok());
    EXPECT_FALSE(r.done());
}

TEST(HandoverPublication, RebuiltFromItsPush) {
    size_t live = PublicationRecord::live();
    {
        PublicationRef a = pub(17, 123456);
        PublicationRef b(PublicationRecord::from_push(
            a->channel(), a->channel_hash(), a->push(), a->object_begin(),
            static_cast<uint32_t>(a->object().size()), a->offset(), a->time_ms()));
        ASSERT_TRUE(b);
        EXPECT_EQ(b->channel(), "news");
        EXPECT_EQ(b->push(), a->push());
        EXPECT_EQ(b->object(), a->object());
        EXPECT_EQ(b->offset(), 17u);
        EXPECT_EQ(b->time_ms(), 123456);
        // An object that does not lie within the push is refused.
        auto size = static_cast<uint32_t>(a->push().size());
        EXPECT_EQ(PublicationRecord::from_push("news", 1, a->push(), size + 1, 0, 1, 0), nullptr);
        EXPECT_EQ(PublicationRecord::from_push("news", 1, a->push(), 2, size - 1, 1, 0), nullptr);
        EXPECT_EQ(PublicationRecord::from_push("news", 1, a->push(), 1, UINT32_MAX, 1, 0), nullptr);
    }
    EXPECT_EQ(PublicationRecord::live(), live);
}

TEST(HandoverStream, AdoptedWithEpochTopAndNewestHistory) {
    size_t live = PublicationRecord::live();
    {
        ChannelStream s(3, 60 * 1000, 99);
        std::vector<PublicationRef> history;
        for (uint64_t o = 6; o <= 10; ++o)
            history.push_back(pub(o, 1000));
        s.adopt(10, "AbCdEfGh", std::move(history));
        EXPECT_EQ(s.epoch(), "AbCdEfGh");
        EXPECT_EQ(s.top(), 10u);
        EXPECT_EQ(s.next_offset(), 11u);
        ASSERT_EQ(s.history().size(), 3u);  // the newest three of five
        EXPECT_EQ(s.bounds().oldest, 8u);
        EXPECT_EQ(s.at(7), nullptr);
        ASSERT_NE(s.at(10), nullptr);
        EXPECT_EQ(s.at(10)->offset(), 10u);
        s.append(11, pub(11, 2000));
        EXPECT_EQ(s.top(), 11u);
        EXPECT_EQ(s.bounds().oldest, 9u);
    }
    EXPECT_EQ(PublicationRecord::live(), live);
}
