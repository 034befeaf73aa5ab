// The Redis engine's bytes: publication bodies and pub/sub payloads round
// trip and refuse what is malformed; jump consistent hash spreads channels
// evenly and, when a shard is added, moves only channels to the new shard.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "pubsub/channel_table.hpp"
#include "pubsub/redis_wire.hpp"

namespace {

namespace redis = wsgate::pubsub::redis;
using wsgate::proto::centrifugo::ClientInfo;

TEST(RedisWire, BodyRoundTripsWithAndWithoutClientInfo) {
    std::string out;
    redis::append_body(out, R"({"a":1})", nullptr);
    auto b = redis::parse_body(out);
    ASSERT_TRUE(b);
    EXPECT_FALSE(b->has_info);
    EXPECT_EQ(b->data, R"({"a":1})");
    out.clear();
    ClientInfo info{"us er", "c 1"};  // spaces inside: lengths, not separators
    redis::append_body(out, "[1, 2]", &info);
    b = redis::parse_body(out);
    ASSERT_TRUE(b);
    EXPECT_TRUE(b->has_info);
    EXPECT_EQ(b->info.user, "us er");
    EXPECT_EQ(b->info.client, "c 1");
    EXPECT_EQ(b->data, "[1, 2]");
}

TEST(RedisWire, MalformedBodiesAndMessagesAreRefused) {
    for (const char* bad : {"", "x{}", "i", "i5 1 ab", "i1 x a", "i99999999999999999999 0 "})
        EXPECT_FALSE(redis::parse_body(bad)) << bad;
    for (const char* bad : {"", "12", "12 ", "x epoch n{}", "-1 e n{}", "1  n{}"})
        EXPECT_FALSE(redis::parse_message(bad)) << bad;
    auto m = redis::parse_message("42 abcdEFGH n{\"x\":1}");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->offset, 42u);
    EXPECT_EQ(m->epoch, "abcdEFGH");
    EXPECT_EQ(m->body, "n{\"x\":1}");
    EXPECT_EQ(redis::entry_offset("17-0"), 17u);
    EXPECT_FALSE(redis::entry_offset("17"));
}

TEST(RedisWire, JumpHashIsEvenAndMovesOnlyToTheNewShard) {
    const int n = 20000;
    std::vector<int> per(4);
    int moved = 0;
    for (int i = 0; i < n; ++i) {
        uint64_t h = wsgate::pubsub::channel_hash("channel-" + std::to_string(i));
        uint32_t three = redis::jump_hash(h, 3);
        uint32_t four = redis::jump_hash(h, 4);
        ASSERT_LT(four, 4u);
        ++per[four];
        if (three != four) {
            ++moved;
            EXPECT_EQ(four, 3u);  // only ever to the new shard
        }
        EXPECT_EQ(redis::jump_hash(h, 1), 0u);
    }
    for (int c : per)
        EXPECT_NEAR(c, n / 4, n / 40);  // within 10%
    EXPECT_NEAR(moved, n / 4, n / 40);  // about 1/4 moved
}

TEST(RedisWire, PresenceRoundTripsAndMergesUsers) {
    std::string b, c;
    redis::append_presence(b, 2, {"u1", "u 2:x"});  // a user id with the separators
    redis::append_presence(c, 3, {"", "u1"});       // "" is the anonymous user
    uint64_t clients = 0;
    std::set<std::string> users;
    ASSERT_TRUE(redis::parse_presence(b, clients, users));
    ASSERT_TRUE(redis::parse_presence(c, clients, users));
    EXPECT_EQ(clients, 5u);
    EXPECT_EQ(users, (std::set<std::string>{"", "u1", "u 2:x"}));
    std::string none;
    redis::append_presence(none, 0, {});
    EXPECT_TRUE(redis::parse_presence(none, clients, users));
    EXPECT_EQ(clients, 5u);
}

TEST(RedisWire, PresenceRefusesMalformedAndAddsNothing) {
    for (std::string_view bad : {"", "x", "1 9:ab", "1 2:ab3:abc", "1 a:b", "-1", "1 2ab"}) {
        uint64_t clients = 7;
        std::set<std::string> users{"kept"};
        EXPECT_FALSE(redis::parse_presence(bad, clients, users)) << bad;
        EXPECT_EQ(clients, 7u) << bad;
        EXPECT_EQ(users.size(), 1u) << bad;
    }
}

TEST(RedisWire, ScriptShaIsSha1Hex) {
    EXPECT_EQ(redis::script_sha1("return 1"), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

}  // namespace
