// The proxy's server pickers (proxy/balancer.hpp): policy parsing, the key a
// request is hashed on, consistent hashing (same key → same server; one
// server more or less moves ~1/N of the keys), the bounded-load guarantee
// under a skewed key distribution, least connections with weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "proto/http_request.hpp"
#include "proxy/balancer.hpp"
#include "proxy/route_table.hpp"

using namespace wsgate::proxy;

namespace {

std::vector<std::string> server_names(size_t n) {
    std::vector<std::string> names;
    for (size_t i = 0; i < n; ++i)
        names.push_back("10.0.0." + std::to_string(i + 1) + ":8080");
    return names;
}

HashRing ring_of(const std::vector<std::string>& names, std::vector<uint32_t> weights = {}) {
    if (weights.empty()) weights.assign(names.size(), 1);
    return HashRing(names, weights);
}

std::vector<Candidate> idle(size_t n) {
    return std::vector<Candidate>(n, Candidate{0, 1});
}

// splitmix64: a fixed sequence, so every run measures the same keys.
struct Random {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9e3779b97f4a7c15u);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        return z ^ (z >> 31);
    }
    double unit() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }
};

// Ranks 0..n-1 with P(k) ∝ 1/(k+1)^s.
class Zipf {
  public:
    Zipf(size_t n, double s) {
        double sum = 0;
        for (size_t k = 0; k < n; ++k) {
            sum += 1.0 / std::pow(static_cast<double>(k + 1), s);
            cdf_.push_back(sum);
        }
        for (double& c : cdf_)
            c /= sum;
    }
    size_t sample(Random& r) const {
        return static_cast<size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), r.unit()) -
                                   cdf_.begin());
    }

  private:
    std::vector<double> cdf_;
};

wsgate::proto::HttpRequest request_of(const std::string& head) {
    wsgate::proto::HttpRequest r;
    auto res = wsgate::proto::parse_http_request(head.data(), head.size(), 0, r);
    EXPECT_EQ(res.status, wsgate::proto::ParseStatus::complete) << head;
    return r;
}

}  // namespace

TEST(Balance, ParsesPolicies) {
    for (const char* text : {"round-robin", "least-conn", "hash:ip", "hash:header:X-User",
                             "hash:cookie:session", "hash:query:room"}) {
        auto p = parse_balance(text);
        ASSERT_TRUE(p) << text;
        EXPECT_EQ(balance_text(*p), text);
    }
    EXPECT_EQ(parse_balance("hash:query:room")->source, HashSource::query);
    EXPECT_EQ(parse_balance("hash:query:room")->key_name, "room");
    for (const char* bad : {"", "rr", "hash", "hash:", "hash:header:", "hash:query:a=b",
                            "hash:cookie:a b", "hash:uri", "least-conn ", "Round-Robin"}) {
        EXPECT_FALSE(parse_balance(bad)) << bad;
    }
}

TEST(Balance, KeysComeFromTheRequest) {
    // The request's views point into the head, which must outlive them.
    const std::string head =
        "GET /chat?user=u1&room=blue&x HTTP/1.1\r\nHost: h\r\nX-User: alice\r\n"
        "Cookie: a=1; session=\"s42\";b=2\r\nCookie: session=late\r\n\r\n";
    auto r = request_of(head);
    EXPECT_EQ(hash_key(*parse_balance("hash:ip"), r, "192.0.2.1"), "192.0.2.1");
    EXPECT_EQ(hash_key(*parse_balance("hash:header:x-user"), r, "192.0.2.1"), "alice");
    EXPECT_EQ(hash_key(*parse_balance("hash:cookie:session"), r, "192.0.2.1"), "s42");
    EXPECT_EQ(hash_key(*parse_balance("hash:cookie:b"), r, "192.0.2.1"), "2");
    EXPECT_EQ(hash_key(*parse_balance("hash:query:room"), r, "192.0.2.1"), "blue");
    EXPECT_EQ(hash_key(*parse_balance("hash:query:user"), r, "192.0.2.1"), "u1");
    // Missing (or valueless) keys fall back to the client's address.
    EXPECT_EQ(hash_key(*parse_balance("hash:query:x"), r, "192.0.2.1"), "192.0.2.1");
    EXPECT_EQ(hash_key(*parse_balance("hash:query:roo"), r, "192.0.2.1"), "192.0.2.1");
    EXPECT_EQ(hash_key(*parse_balance("hash:header:X-Room"), r, "192.0.2.1"), "192.0.2.1");
    EXPECT_EQ(hash_key(*parse_balance("hash:cookie:sess"), r, "192.0.2.1"), "192.0.2.1");
    const std::string plain = "GET /chat HTTP/1.1\r\nHost: h\r\n\r\n";
    auto no_query = request_of(plain);
    EXPECT_EQ(hash_key(*parse_balance("hash:query:room"), no_query, "::1"), "::1");
}

TEST(HashRing, SameKeySameServer) {
    auto names = server_names(7);
    HashRing ring = ring_of(names);
    HashRing again = ring_of(names);
    EXPECT_EQ(ring.points(), 7u * HashRing::kPointsPerServer);
    auto servers = idle(7);
    std::vector<int> used(7, 0);
    for (int k = 0; k < 10000; ++k) {
        uint64_t h = hash_of("room-" + std::to_string(k));
        int s = ring.pick(h, servers, 1.25);
        ASSERT_NE(s, kNoServer);
        EXPECT_EQ(ring.pick(h, servers, 1.25), s);
        EXPECT_EQ(again.pick(h, servers, 0), s);
        ++used[static_cast<size_t>(s)];
    }
    for (int u : used)
        EXPECT_GT(u, 10000 / 7 / 2);  // every server takes a share
}

// Plain consistent hashing (no load bound): the keys that change server when
// one of N is removed are exactly those it had, ~1/N of them.
TEST(HashRing, RemovingOneOfNMovesAboutOneNth) {
    constexpr size_t kKeys = 100000;
    for (size_t n : {5u, 10u, 20u}) {
        auto names = server_names(n);
        HashRing full = ring_of(names);
        auto fewer = names;
        const size_t removed = n / 2;
        fewer.erase(fewer.begin() + static_cast<long>(removed));
        HashRing smaller = ring_of(fewer);
        auto all_idle = idle(n);
        auto fewer_idle = idle(n - 1);
        size_t moved = 0, moved_elsewhere = 0;
        for (size_t k = 0; k < kKeys; ++k) {
            uint64_t h = hash_of("user-" + std::to_string(k));
            const std::string& before = names[static_cast<size_t>(full.pick(h, all_idle, 0))];
            const std::string& after = fewer[static_cast<size_t>(smaller.pick(h, fewer_idle, 0))];
            if (before != after) {
                ++moved;
                if (before != names[removed]) ++moved_elsewhere;
            }
        }
        double fraction = static_cast<double>(moved) / kKeys;
        std::printf("remove 1 of %zu servers: %.4f of %zu keys moved (1/N = %.4f)\n", n, fraction,
                    kKeys, 1.0 / static_cast<double>(n));
        EXPECT_EQ(moved_elsewhere, 0u);
        EXPECT_GT(fraction, 0.6 / static_cast<double>(n));
        EXPECT_LT(fraction, 1.4 / static_cast<double>(n));
    }
}

TEST(HashRing, AddingOneToNMovesAboutOneNPlusOneth) {
    constexpr size_t kKeys = 100000;
    for (size_t n : {4u, 10u}) {
        auto names = server_names(n + 1);
        auto before_names = names;
        before_names.pop_back();
        HashRing before = ring_of(before_names);
        HashRing after = ring_of(names);
        auto idle_before = idle(n);
        auto idle_after = idle(n + 1);
        size_t moved = 0, moved_not_to_new = 0;
        for (size_t k = 0; k < kKeys; ++k) {
            uint64_t h = hash_of("user-" + std::to_string(k));
            auto a = static_cast<size_t>(before.pick(h, idle_before, 0));
            auto b = static_cast<size_t>(after.pick(h, idle_after, 0));
            if (a != b) {
                ++moved;
                if (b != n) ++moved_not_to_new;
            }
        }
        double fraction = static_cast<double>(moved) / kKeys;
        std::printf("add 1 to %zu servers: %.4f of %zu keys moved (1/(N+1) = %.4f)\n", n, fraction,
                    kKeys, 1.0 / static_cast<double>(n + 1));
        EXPECT_EQ(moved_not_to_new, 0u);
        EXPECT_GT(fraction, 0.6 / static_cast<double>(n + 1));
        EXPECT_LT(fraction, 1.4 / static_cast<double>(n + 1));
    }
}

// A server that is down (weight 0) loses its keys to the others, and only its.
TEST(HashRing, IneligibleServerLosesOnlyItsKeys) {
    auto names = server_names(6);
    HashRing ring = ring_of(names);
    auto servers = idle(6);
    auto one_down = servers;
    one_down[2].weight = 0;
    size_t moved = 0;
    for (size_t k = 0; k < 20000; ++k) {
        uint64_t h = hash_of(std::to_string(k));
        int a = ring.pick(h, servers, 0);
        int b = ring.pick(h, one_down, 0);
        ASSERT_NE(b, 2);
        if (a != b) {
            EXPECT_EQ(a, 2);
            ++moved;
        }
    }
    EXPECT_GT(moved, 20000u / 6 / 2);
    std::vector<Candidate> none(6, Candidate{0, 0});
    EXPECT_EQ(ring.pick(1, none, 1.25), kNoServer);
}

// Connections held open, keys Zipf-distributed (a few rooms hold most
// sockets): without the bound the hottest server takes several times the
// average; with c = 1.25 none goes above ceil(1.25 × average), checked at
// every placement, also while connections close at random.
TEST(HashRing, BoundedLoadHoldsUnderSkew) {
    constexpr size_t kServers = 8;
    constexpr size_t kConnections = 20000;
    constexpr double kFactor = 1.25;
    auto names = server_names(kServers);
    HashRing ring = ring_of(names);
    Zipf zipf(1000, 1.1);
    for (double factor : {0.0, kFactor}) {
        Random random{42};
        auto servers = idle(kServers);
        std::vector<size_t> open;  // server of each open connection
        size_t over_bound = 0, at_home = 0, placed = 0;
        for (size_t i = 0; i < kConnections; ++i) {
            // One close for every three opens, so the loads also fall.
            if (i % 4 == 3 && !open.empty()) {
                size_t victim = random.next() % open.size();
                --servers[open[victim]].connections;
                open[victim] = open.back();
                open.pop_back();
            }
            uint64_t h = hash_of("room-" + std::to_string(zipf.sample(random)));
            int s = ring.pick(h, servers, factor);
            ASSERT_NE(s, kNoServer);
            if (s == ring.pick(h, idle(kServers), 0)) ++at_home;
            ++placed;
            ++servers[static_cast<size_t>(s)].connections;
            open.push_back(static_cast<size_t>(s));
            double bound = std::ceil(kFactor * static_cast<double>(open.size()) / kServers);
            if (servers[static_cast<size_t>(s)].connections > bound) ++over_bound;
        }
        uint32_t max = 0;
        for (const Candidate& c : servers)
            max = std::max(max, c.connections);
        double average = static_cast<double>(open.size()) / kServers;
        std::printf(
            "factor %.2f: %zu open on %zu servers, max %u, average %.1f, max/avg %.3f, "
            "%.3f placed on their key's own server, %zu placements over ceil(1.25 x avg)\n",
            factor, open.size(), kServers, max, average, max / average,
            static_cast<double>(at_home) / static_cast<double>(placed), over_bound);
        if (factor == 0) {
            EXPECT_GT(max / average, 1.5);  // the key distribution is skewed enough to matter
            EXPECT_GT(over_bound, 0u);
        } else {
            EXPECT_EQ(over_bound, 0u);
            EXPECT_LE(max, std::ceil(kFactor * average));
            EXPECT_GT(static_cast<double>(at_home) / static_cast<double>(placed), 0.5);
        }
    }
}

// Weights scale each server's capacity: weight 3 holds three times weight 1.
TEST(HashRing, BoundScalesWithWeight) {
    auto names = server_names(2);
    HashRing ring = ring_of(names, {1, 3});
    std::vector<Candidate> servers{{0, 1}, {0, 3}};
    for (int i = 0; i < 4000; ++i) {
        int s = ring.pick(hash_of("same-key"), servers, 1.0);
        ++servers[static_cast<size_t>(s)].connections;
    }
    // c = 1: each at most ceil(total × w / W).
    EXPECT_EQ(servers[0].connections, 1000u);
    EXPECT_EQ(servers[1].connections, 3000u);
}

TEST(LeastConn, PicksTheLeastLoadedPerWeight) {
    std::vector<Candidate> s{{5, 1}, {2, 1}, {3, 1}};
    EXPECT_EQ(pick_least_conn(s, 0), 1);
    // 4/1 against 6/2: the weight-2 server is less loaded.
    std::vector<Candidate> w{{4, 1}, {6, 2}};
    EXPECT_EQ(pick_least_conn(w, 0), 1);
    std::vector<Candidate> w2{{3, 1}, {8, 2}};
    EXPECT_EQ(pick_least_conn(w2, 0), 0);
    // Ineligible servers are skipped however idle.
    std::vector<Candidate> down{{0, 0}, {9, 1}, {7, 1}};
    EXPECT_EQ(pick_least_conn(down, 0), 2);
    std::vector<Candidate> none{{0, 0}, {0, 0}};
    EXPECT_EQ(pick_least_conn(none, 1), kNoServer);
    // Ties go in turn from `start`.
    std::vector<Candidate> tie{{1, 1}, {1, 1}, {1, 1}};
    EXPECT_EQ(pick_least_conn(tie, 0), 0);
    EXPECT_EQ(pick_least_conn(tie, 1), 1);
    EXPECT_EQ(pick_least_conn(tie, 5), 2);
}

// Opening connections one by one with least-conn spreads them in
// proportion to the weights.
TEST(LeastConn, FillsInProportionToWeights) {
    std::vector<Candidate> s{{0, 1}, {0, 2}, {0, 5}};
    for (uint32_t i = 0; i < 800; ++i)
        ++s[static_cast<size_t>(pick_least_conn(s, i))].connections;
    EXPECT_EQ(s[0].connections, 100u);
    EXPECT_EQ(s[1].connections, 200u);
    EXPECT_EQ(s[2].connections, 500u);
}

TEST(RoundRobinPick, SkipsIneligible) {
    RouteTable t;
    ASSERT_EQ(t.add_upstream("p=127.0.0.1:1"), "");
    ASSERT_EQ(t.add_upstream("p=127.0.0.1:2"), "");
    ASSERT_EQ(t.add_upstream("p=127.0.0.1:3"), "");
    RoundRobin rr(t.pools()[0]);
    std::vector<Candidate> s{{0, 1}, {0, 0}, {0, 1}};
    std::vector<int> picks;
    for (int i = 0; i < 4; ++i)
        picks.push_back(rr.next(s));
    EXPECT_EQ(picks, (std::vector<int>{0, 2, 0, 2}));
    std::vector<Candidate> none{{0, 0}, {0, 0}, {0, 0}};
    EXPECT_EQ(rr.next(none), kNoServer);
}

TEST(RouteTable, BalanceFlags) {
    RouteTable t;
    ASSERT_EQ(t.add_upstream("a=127.0.0.1:1"), "");
    ASSERT_EQ(t.add_upstream("a=127.0.0.1:2"), "");
    ASSERT_EQ(t.add_upstream("b=127.0.0.1:3"), "");
    ASSERT_EQ(t.add_route("/=a"), "");
    ASSERT_EQ(t.add_route("/b=b"), "");
    EXPECT_EQ(t.add_balance("a=hash:query:room"), "");
    EXPECT_NE(t.add_balance("a=least-conn"), "");  // twice
    EXPECT_NE(t.add_balance("b=hash:nothing"), "");
    EXPECT_NE(t.add_balance("least-conn"), "");
    ASSERT_EQ(t.finish(), "");
    EXPECT_EQ(t.pools()[0].balance.kind, BalanceKind::hash);
    EXPECT_EQ(t.pools()[0].ring.points(), 2u * HashRing::kPointsPerServer);
    EXPECT_EQ(t.pools()[1].balance.kind, BalanceKind::round_robin);
    EXPECT_EQ(t.pools()[1].ring.points(), 0u);

    RouteTable unknown;
    ASSERT_EQ(unknown.add_upstream("a=127.0.0.1:1"), "");
    ASSERT_EQ(unknown.add_route("/=a"), "");
    ASSERT_EQ(unknown.add_balance("c=least-conn"), "");
    EXPECT_NE(unknown.finish(), "");  // no pool c

    RouteTable big;
    for (size_t i = 0; i < kMaxPoolServers; ++i)
        ASSERT_EQ(big.add_upstream("a=127.0.0.1:" + std::to_string(1000 + i)), "");
    EXPECT_NE(big.add_upstream("a=127.0.0.1:999"), "");
}
