// Per-address admission bookkeeping: the peer table (checked against a
// std::map under random churn), the peer key, the handshake queue.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <map>
#include <random>
#include <vector>

#include "ws/handshake_queue.hpp"
#include "ws/peer_key.hpp"
#include "ws/peer_table.hpp"

using wsgate::ws::HandshakeQueue;
using wsgate::ws::peer_key;
using wsgate::ws::PeerTable;

TEST(PeerTable, CountsUpToTheCapAndForgetsAtZero) {
    PeerTable t(8);
    EXPECT_TRUE(t.try_add(42, 2));
    EXPECT_TRUE(t.try_add(42, 2));
    EXPECT_FALSE(t.try_add(42, 2));
    EXPECT_EQ(t.count(42), 2u);
    EXPECT_EQ(t.keys(), 1u);
    t.remove(42);
    EXPECT_TRUE(t.try_add(42, 2));
    t.remove(42);
    t.remove(42);
    EXPECT_EQ(t.count(42), 0u);
    EXPECT_EQ(t.keys(), 0u);
}

TEST(PeerTable, RefusesANewKeyWhenFullButNotAKnownOne) {
    PeerTable t(3);
    for (uint64_t k = 1; k <= 3; ++k)
        EXPECT_TRUE(t.try_add(k, 10));
    EXPECT_FALSE(t.try_add(4, 10));
    EXPECT_TRUE(t.try_add(2, 10));
    t.remove(1);
    EXPECT_TRUE(t.try_add(4, 10));
}

TEST(PeerTable, KeysSharingAHomeSlotSurviveRemovalsInAnyOrder) {
    // Table of 16 slots: keys k * 16 + 5 all start probing at slot 5, and the
    // run wraps past the end of the table.
    PeerTable t(8);
    std::vector<uint64_t> keys;
    for (uint64_t k = 0; k < 8; ++k)
        keys.push_back(k * 16 + 13);
    for (uint64_t k : keys)
        ASSERT_TRUE(t.try_add(k, 1));
    for (size_t i = 0; i < keys.size(); i += 2)
        t.remove(keys[i]);
    for (size_t i = 0; i < keys.size(); ++i)
        EXPECT_EQ(t.count(keys[i]), i % 2) << i;
    for (size_t i = 1; i < keys.size(); i += 2)
        t.remove(keys[i]);
    EXPECT_EQ(t.keys(), 0u);
}

TEST(PeerTable, RandomChurnMatchesAMap) {
    std::mt19937_64 rng(7);
    PeerTable t(64);
    std::map<uint64_t, uint32_t> ref;
    const uint32_t cap = 3;
    for (int step = 0; step < 200000; ++step) {
        // Few distinct keys, many with the same low bits: long probe runs.
        uint64_t key = (rng() % 96) << (rng() % 2 ? 0 : 32);
        if (rng() % 2 == 0) {
            bool known = ref.count(key) != 0;
            bool want = (known && ref[key] < cap) || (!known && ref.size() < 64);
            ASSERT_EQ(t.try_add(key, cap), want) << step;
            if (want) ++ref[key];
        } else if (!ref.empty()) {
            auto it = ref.begin();
            std::advance(it, static_cast<long>(rng() % ref.size()));
            t.remove(it->first);
            if (--it->second == 0) ref.erase(it);
        }
        ASSERT_EQ(t.keys(), ref.size());
    }
    for (auto [key, n] : ref)
        EXPECT_EQ(t.count(key), n);
}

namespace {
sockaddr_in v4(const char* text, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, text, &a.sin_addr);
    return a;
}
sockaddr_in6 v6(const char* text, uint16_t port) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    inet_pton(AF_INET6, text, &a.sin6_addr);
    return a;
}
template <class A>
uint64_t key_of(const A& a, uint64_t seed = 1) {
    uint64_t k = 0;
    EXPECT_TRUE(peer_key(reinterpret_cast<const sockaddr*>(&a), sizeof(a), seed, &k));
    return k;
}
}  // namespace

TEST(PeerKey, Ipv4AddressNotPort) {
    EXPECT_EQ(key_of(v4("127.0.0.2", 1000)), key_of(v4("127.0.0.2", 2000)));
    EXPECT_NE(key_of(v4("127.0.0.2", 1000)), key_of(v4("127.0.0.3", 1000)));
}

TEST(PeerKey, Ipv6CountsPerSlash64) {
    EXPECT_EQ(key_of(v6("2001:db8:1:2::1", 1)), key_of(v6("2001:db8:1:2:ffff::9", 2)));
    EXPECT_NE(key_of(v6("2001:db8:1:2::1", 1)), key_of(v6("2001:db8:1:3::1", 1)));
}

TEST(PeerKey, V4MappedIsTheIpv4Address) {
    EXPECT_EQ(key_of(v6("::ffff:10.1.2.3", 5)), key_of(v4("10.1.2.3", 6)));
    EXPECT_NE(key_of(v6("::ffff:10.1.2.3", 5)), key_of(v6("::ffff:10.1.2.4", 5)));
}

TEST(PeerKey, SeedChangesKeysOtherFamiliesAndShortLengthsHaveNone) {
    EXPECT_NE(key_of(v4("127.0.0.2", 1), 1), key_of(v4("127.0.0.2", 1), 2));
    sockaddr_in a = v4("127.0.0.2", 1);
    uint64_t k = 99;
    EXPECT_FALSE(peer_key(reinterpret_cast<const sockaddr*>(&a), sizeof(a) - 1, 1, &k));
    sockaddr unix_family{};
    unix_family.sa_family = AF_UNIX;
    EXPECT_FALSE(peer_key(&unix_family, sizeof(unix_family), 1, &k));
    EXPECT_FALSE(peer_key(nullptr, 0, 1, &k));
    EXPECT_EQ(k, 99u);
}

TEST(HandshakeQueue, OldestFirstWithRemovalAnywhere) {
    HandshakeQueue q;
    EXPECT_EQ(q.oldest(), HandshakeQueue::kNone);
    q.push(5, 10, 0, 50, true);
    q.push(2, 11, 0, 20, false);
    q.push(9, 12, 0, 90, true);
    EXPECT_EQ(q.size(), 3u);
    EXPECT_EQ(q.oldest(), 5u);
    EXPECT_TRUE(q.remove(2));  // middle
    EXPECT_FALSE(q.remove(2));
    EXPECT_FALSE(q.remove(100));  // never queued
    EXPECT_EQ(q.oldest(), 5u);
    EXPECT_TRUE(q.remove(5));  // head
    EXPECT_EQ(q.oldest(), 9u);
    EXPECT_EQ(q.start_ms(9), 12u);
    EXPECT_EQ(q.peer(9), 90u);
    EXPECT_TRUE(q.has_peer(9));
    q.push(5, 13, 0, 50, true);  // back in, now the newest
    EXPECT_TRUE(q.remove(9));    // head and only-before-tail
    EXPECT_EQ(q.oldest(), 5u);
    EXPECT_TRUE(q.remove(5));
    EXPECT_EQ(q.size(), 0u);
    EXPECT_EQ(q.oldest(), HandshakeQueue::kNone);
}

TEST(HandshakeQueue, PartialHeadsFormTheirOwnListKeepingTheirStart) {
    using List = HandshakeQueue::List;
    HandshakeQueue q;
    q.push(1, 10, 0, 0, false);
    q.push(2, 11, 0, 0, false);
    q.push(3, 12, 0, 0, false);
    q.mark_partial(3);
    q.mark_partial(2);
    q.mark_partial(2);  // already there
    q.mark_partial(7);  // not queued
    EXPECT_EQ(q.size(), 3u);
    EXPECT_EQ(q.oldest(List::waiting), 1u);
    EXPECT_EQ(q.oldest(List::partial), 3u);  // in the order they turned partial
    EXPECT_EQ(q.oldest(), 1u);               // started first, either list
    EXPECT_TRUE(q.remove(1));
    EXPECT_EQ(q.oldest(List::waiting), HandshakeQueue::kNone);
    EXPECT_EQ(q.oldest(), 3u);
    EXPECT_TRUE(q.remove(3));
    EXPECT_EQ(q.oldest(), 2u);
    EXPECT_EQ(q.start_ms(2), 11u);
    EXPECT_TRUE(q.remove(2));
    EXPECT_EQ(q.oldest(List::partial), HandshakeQueue::kNone);
    EXPECT_EQ(q.size(), 0u);
}
