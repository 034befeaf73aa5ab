// Per-address admission (ws/peer_admission.hpp) and the token bucket it and
// the per-connection rates share (ws/token_bucket.hpp).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "ws/message_rate_limit.hpp"
#include "ws/peer_admission.hpp"
#include "ws/peer_key.hpp"
#include "ws/token_bucket.hpp"

using wsgate::ws::EdgeLimits;
using wsgate::ws::MessageRateLimit;
using wsgate::ws::PeerAdmission;
using wsgate::ws::PeerAdmissionSettings;
using wsgate::ws::TokenBucket;
using wsgate::ws::TokenBucketRate;

TEST(TokenBucket, BurstThenRate) {
    TokenBucketRate rate{10, 5};  // 10 per second, 5 at once
    TokenBucket b;
    b.fill(rate, 1000);
    for (int i = 0; i < 5; ++i)
        EXPECT_TRUE(b.take(rate, 1, 1000)) << i;
    EXPECT_FALSE(b.take(rate, 1, 1000));
    EXPECT_EQ(b.ms_until(rate, 1, 1000), 100u);
    EXPECT_FALSE(b.take(rate, 1, 1099));
    EXPECT_TRUE(b.take(rate, 1, 1100));
    // A long pause refills to the burst, no more.
    for (int i = 0; i < 5; ++i)
        EXPECT_TRUE(b.take(rate, 1, 900000)) << i;
    EXPECT_FALSE(b.take(rate, 1, 900000));
}

TEST(TokenBucket, AClockStepBackRefillsNothing) {
    // Loops share a bucket with each loop's clock of its turn: one that
    // began its turn earlier may come second.
    TokenBucketRate rate{5, 2};
    TokenBucket b;
    b.fill(rate, 5000);
    EXPECT_TRUE(b.take(rate, 2, 5000));
    EXPECT_FALSE(b.take(rate, 1, 4999));
    EXPECT_FALSE(b.take(rate, 1, 5000));
    EXPECT_TRUE(b.take(rate, 1, 5200));
}

TEST(TokenBucket, BytesAtLargeRatesStayExact) {
    TokenBucketRate rate{uint64_t{1} << 40, uint64_t{1} << 40};
    TokenBucket b;
    b.fill(rate, 0);
    EXPECT_TRUE(b.take(rate, uint64_t{1} << 40, 0));
    EXPECT_FALSE(b.take(rate, 1, 0));
    EXPECT_TRUE(b.take(rate, uint64_t{1} << 39, 500));
}

// A reload's rates (MessageRateLimit::update): a loop started without any
// allocates its table then, open connections start at full buckets of the
// new rates, and zero turns a limit off again.
TEST(MessageRateLimit, AReloadSetsRatesOnOpenConnectionsAndZeroTurnsThemOff) {
    MessageRateLimit rates(EdgeLimits{}, 8);
    EXPECT_FALSE(rates.enabled());
    auto open_slot_3 = [](auto open) { open(3u); };
    EdgeLimits limits;
    limits.messages_per_second = 10;
    limits.message_burst = 4;
    limits.bytes_per_second = 100;
    limits.byte_burst = 100;
    ASSERT_TRUE(rates.update(limits, 1000, open_slot_3));
    EXPECT_TRUE(rates.enabled());
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(rates.message(3, 1000), MessageRateLimit::Verdict::ok) << i;
    EXPECT_EQ(rates.message(3, 1000), MessageRateLimit::Verdict::messages);
    EXPECT_EQ(rates.bytes(3, 100, 1000), MessageRateLimit::Verdict::ok);
    EXPECT_EQ(rates.bytes(3, 1, 1000), MessageRateLimit::Verdict::bytes);
    // The same rates again: buckets untouched (still empty).
    ASSERT_TRUE(rates.update(limits, 1000, open_slot_3));
    EXPECT_EQ(rates.message(3, 1000), MessageRateLimit::Verdict::messages);
    // Lowered: the next second's budget at the new rate, from a full bucket.
    limits.messages_per_second = 2;
    limits.message_burst = 2;
    ASSERT_TRUE(rates.update(limits, 1000, open_slot_3));
    EXPECT_EQ(rates.message(3, 1000), MessageRateLimit::Verdict::ok);
    EXPECT_EQ(rates.message(3, 1000), MessageRateLimit::Verdict::ok);
    EXPECT_EQ(rates.message(3, 1100), MessageRateLimit::Verdict::messages);
    EXPECT_EQ(rates.message(3, 1500), MessageRateLimit::Verdict::ok);
    // Off (0): any number of messages; the byte rate stays.
    limits.messages_per_second = 0;
    limits.message_burst = 0;
    ASSERT_TRUE(rates.update(limits, 1500, open_slot_3));
    for (int i = 0; i < 1000; ++i)
        ASSERT_EQ(rates.message(3, 1500), MessageRateLimit::Verdict::ok) << i;
    EXPECT_EQ(rates.bytes(3, 100, 1500), MessageRateLimit::Verdict::ok);
    EXPECT_EQ(rates.bytes(3, 1, 1500), MessageRateLimit::Verdict::bytes);
}

TEST(PeerAdmission, ConnectionsPerAddressUntilReleased) {
    PeerAdmissionSettings s;
    s.max_connections = 2;
    s.max_open_keys = 16;
    PeerAdmission p(s);
    EXPECT_EQ(p.admit(7, 0).verdict, PeerAdmission::Verdict::admitted);
    EXPECT_EQ(p.admit(7, 0).verdict, PeerAdmission::Verdict::admitted);
    PeerAdmission::Result r = p.admit(7, 0);
    EXPECT_EQ(r.verdict, PeerAdmission::Verdict::over_connections);
    EXPECT_GE(r.retry_after_s, 1u);
    EXPECT_EQ(p.admit(8, 0).verdict, PeerAdmission::Verdict::admitted);
    p.release(7);
    EXPECT_EQ(p.admit(7, 0).verdict, PeerAdmission::Verdict::admitted);
    p.release(7);
    p.release(7);
    p.release(8);
    EXPECT_EQ(p.open_keys(), 0u);
}

TEST(PeerAdmission, RateRefusalSaysWhenToRetry) {
    PeerAdmissionSettings s;
    s.rate = {1, 3};  // one a second, three at once
    PeerAdmission p(s);
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(p.admit(9, 10000).verdict, PeerAdmission::Verdict::admitted);
    PeerAdmission::Result r = p.admit(9, 10000);
    EXPECT_EQ(r.verdict, PeerAdmission::Verdict::over_rate);
    EXPECT_EQ(r.retry_after_s, 1u);
    EXPECT_EQ(p.admit(9, 11000).verdict, PeerAdmission::Verdict::admitted);
}

TEST(PeerAdmission, AFloodOfDistinctAddressesDoesNotFreeTheAbuser) {
    // 64 remembered buckets, 100,000 other addresses passing through: the
    // abuser's drained bucket is never the fullest of its set, so it stays.
    PeerAdmissionSettings s;
    s.rate = {1, 10};
    s.rate_entries = 64;
    s.max_open_keys = 4;  // the abuser's open connections and one passing through
    PeerAdmission p(s);
    const uint64_t abuser = 0xABCDEF0123456789ull;
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(p.admit(abuser, 0).verdict, PeerAdmission::Verdict::admitted);
    for (uint64_t k = 1; k <= 100000; ++k) {
        const uint64_t key = k * 0x9E3779B97F4A7C15ull;
        EXPECT_EQ(p.admit(key, 0).verdict, PeerAdmission::Verdict::admitted);
        p.release(key);  // a short-lived connection
    }
    EXPECT_EQ(p.admit(abuser, 0).verdict, PeerAdmission::Verdict::over_rate);
}

TEST(PeerAdmission, AReloadedLimitKeepsTheOpenCounts) {
    // Counted with no limit set; a limit set later starts from those counts.
    PeerAdmissionSettings s;
    s.max_open_keys = 16;
    PeerAdmission p(s);
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(p.admit(7, 0).verdict, PeerAdmission::Verdict::admitted);
    EXPECT_EQ(p.open_keys(), 1u);
    PeerAdmissionSettings lower = s;
    lower.max_connections = 2;
    p.update(lower);
    EXPECT_EQ(p.admit(7, 0).verdict, PeerAdmission::Verdict::over_connections);
    EXPECT_EQ(p.admit(8, 0).verdict, PeerAdmission::Verdict::admitted);
    p.release(7);
    EXPECT_EQ(p.admit(7, 0).verdict, PeerAdmission::Verdict::over_connections);  // still 2 open
    p.release(7);
    EXPECT_EQ(p.admit(7, 0).verdict, PeerAdmission::Verdict::admitted);
    // A rate switched on by a reload: buckets from then on.
    PeerAdmissionSettings rated = lower;
    rated.max_connections = 0;
    rated.rate = {1, 1};
    p.update(rated);
    EXPECT_EQ(p.admit(9, 1000).verdict, PeerAdmission::Verdict::admitted);
    EXPECT_EQ(p.admit(9, 1000).verdict, PeerAdmission::Verdict::over_rate);
    EXPECT_EQ(p.admit(9, 2000).verdict, PeerAdmission::Verdict::admitted);
}

TEST(PeerKey, Ipv6PrefixLengthDecidesWhatCountsAsOneClient) {
    auto key = [](const char* text, uint32_t bits) {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        inet_pton(AF_INET6, text, &a.sin6_addr);
        uint64_t k = 0;
        EXPECT_TRUE(wsgate::ws::peer_key(reinterpret_cast<sockaddr*>(&a), sizeof(a), 42, &k, bits));
        return k;
    };
    EXPECT_EQ(key("2001:db8:1:2::1", 64), key("2001:db8:1:2:ffff::9", 64));
    EXPECT_NE(key("2001:db8:1:2::1", 64), key("2001:db8:1:3::1", 64));
    EXPECT_EQ(key("2001:db8:1:2::1", 48), key("2001:db8:1:3::1", 48));
    EXPECT_EQ(key("2001:db8:1:2::1", 60), key("2001:db8:1:f::1", 60));
    EXPECT_NE(key("2001:db8:1:2::1", 60), key("2001:db8:1:12::1", 60));
    EXPECT_NE(key("2001:db8:1:2::1", 128), key("2001:db8:1:2::2", 128));
}

TEST(PeerAdmission, AReloadedIpv6PrefixGroupsNewConnections) {
    PeerAdmissionSettings s;
    s.max_open_keys = 16;
    PeerAdmission p(s);
    auto key = [&p](const char* text) {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        inet_pton(AF_INET6, text, &a.sin6_addr);
        uint64_t k = 0;
        EXPECT_TRUE(p.key_of(reinterpret_cast<sockaddr*>(&a), sizeof(a), &k));
        return k;
    };
    EXPECT_EQ(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));  // one /64
    PeerAdmissionSettings finer = s;
    finer.ipv6_prefix_bits = 128;
    p.update(finer);
    EXPECT_NE(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
}
