// A reload's proxy table (proxy/proxy_table.hpp): servers that stay share
// their live state by identity (pool, name, address), whatever their
// position; new ones start fresh; a removed one's record lives as long as
// the older table; unchanged routing is recognised; the hash ring keeps
// the keys of servers that stay.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/balancer.hpp"
#include "proxy/proxy_table.hpp"

using namespace wsgate::proxy;

namespace {

// "pool=port" servers on 127.0.0.1 and "prefix=pool" routes.
RouteTable table_of(const std::vector<std::string>& upstreams,
                    const std::vector<std::string>& routes,
                    const std::vector<std::string>& balances = {},
                    const std::vector<std::string>& checks = {}) {
    RouteTable t;
    for (const std::string& u : upstreams) {
        size_t eq = u.find('=');
        EXPECT_EQ(t.add_upstream(u.substr(0, eq) + "=127.0.0.1:" + u.substr(eq + 1)), "");
    }
    for (const std::string& r : routes)
        EXPECT_EQ(t.add_route(r), "");
    for (const std::string& b : balances)
        EXPECT_EQ(t.add_balance(b), "");
    for (const std::string& c : checks)
        EXPECT_EQ(t.add_health_check(c), "");
    EXPECT_EQ(t.finish(), "");
    return t;
}

}  // namespace

TEST(ProxyTable, ServersThatStayShareTheirStateByIdentity) {
    auto first = std::make_shared<ProxyTable>(
        table_of({"a=9001", "a=9002", "a=9003", "b=9001"}, {"/a=a", "/b=b"}), nullptr);
    first->live.server(0, 1).connections.store(5);  // a 9002
    first->live.server(0, 2).connections.store(7);  // a 9003, removed below
    first->live.server(1, 0).connections.store(2);  // b 9001: another pool, same address
    // 9003 removed, 9004 added, 9002 moved to the front.
    auto second = std::make_shared<ProxyTable>(
        table_of({"a=9002", "a=9001", "a=9004", "c=9002"}, {"/a=a", "/c=c"}), first.get());
    EXPECT_EQ(&second->live.server(0, 0), &first->live.server(0, 1));  // a 9002
    EXPECT_EQ(second->live.server(0, 0).connections.load(), 5u);
    EXPECT_EQ(&second->live.server(0, 1), &first->live.server(0, 0));  // a 9001
    EXPECT_EQ(second->live.server(0, 2).connections.load(), 0u);       // a 9004: new
    EXPECT_EQ(second->live.server(1, 0).connections.load(), 0u);       // pool c is new: fresh
    EXPECT_EQ(second->live.carried(), 2u);
    // The removed server's record lives while the older table does (its
    // connections release into it).
    ServerLive& removed = first->live.server(0, 2);
    removed.connections.fetch_sub(7);
    EXPECT_EQ(removed.connections.load(), 0u);
}

TEST(ProxyTable, HealthVerdictCarriesOverAndANewCheckJudgesAfresh) {
    auto first = std::make_shared<ProxyTable>(
        table_of({"a=9001", "a=9002", "b=9003"}, {"/a=a", "/b=b"}, {}, {"a=interval=1"}), nullptr);
    const int64_t now = 1000000;
    first->live.set_check_verdict(first->live.server(0, 0), false, now);
    // b: a verdict left from a check the pool had earlier is not consulted.
    first->live.server(1, 0).check_up.store(false);
    EXPECT_EQ(first->live.effective_weight(first->live.server(1, 0), 1, now, false), kWeightScale);
    auto second =
        std::make_shared<ProxyTable>(table_of({"a=9001", "a=9002", "b=9003"}, {"/a=a", "/b=b"}, {},
                                              {"a=interval=1", "b=interval=1"}),
                                     first.get());
    EXPECT_FALSE(second->live.server(0, 0).check_up.load());  // still down
    EXPECT_TRUE(second->live.server(1, 0).check_up.load());   // b's new check starts up
}

TEST(ProxyTable, SameRoutingAndWhatChanged) {
    RouteTable a = table_of({"a=9001", "a=9002"}, {"/a=a"}, {"a=hash:ip"});
    EXPECT_TRUE(same_routing(a, table_of({"a=9001", "a=9002"}, {"/a=a"}, {"a=hash:ip"})));
    EXPECT_FALSE(same_routing(a, table_of({"a=9001", "a=9002"}, {"/a=a"})));
    EXPECT_FALSE(same_routing(a, table_of({"a=9001"}, {"/a=a"}, {"a=hash:ip"})));
    EXPECT_FALSE(same_routing(a, table_of({"a=9001", "a=9002"}, {"/b=a"}, {"a=hash:ip"})));
    RouteTable b = table_of({"a=9001", "a=9003", "n=9005"}, {"/a=a", "/new=n"}, {"a=hash:ip"});
    EXPECT_EQ(describe_routing_change(a, b),
              "proxy routes: -server a 127.0.0.1:9002, +server a 127.0.0.1:9003, +pool n, "
              "+route /new=n");
    RouteTable heavier;
    EXPECT_EQ(heavier.add_upstream("a=127.0.0.1:9001,weight=5"), "");
    EXPECT_EQ(heavier.add_upstream("a=127.0.0.1:9002"), "");
    EXPECT_EQ(heavier.add_route("/a=a"), "");
    EXPECT_EQ(heavier.add_balance("a=hash:ip"), "");
    EXPECT_EQ(heavier.finish(), "");
    EXPECT_FALSE(same_routing(a, heavier));
    EXPECT_EQ(describe_routing_change(a, heavier), "proxy routes: weight a 127.0.0.1:9001 5");
}

TEST(ProxyTable, TheRingKeepsTheKeysOfServersThatStay) {
    RouteTable before = table_of({"h=9001", "h=9002", "h=9003", "h=9004"}, {"/h=h"}, {"h=hash:ip"});
    RouteTable after = table_of({"h=9001", "h=9002", "h=9003", "h=9005"}, {"/h=h"}, {"h=hash:ip"});
    const Candidate up[4] = {{0, 1}, {0, 1}, {0, 1}, {0, 1}};
    const std::string names_after[4] = {"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003",
                                        "127.0.0.1:9005"};
    int stayed = 0, to_new = 0;
    for (int k = 0; k < 10000; ++k) {
        uint64_t h = hash_of("key" + std::to_string(k));
        int was = before.pools()[0].ring.pick(h, up, 0);
        int now = after.pools()[0].ring.pick(h, up, 0);
        ASSERT_NE(was, -1);
        const std::string& was_name = before.pools()[0].servers[static_cast<size_t>(was)].name;
        if (was_name == "127.0.0.1:9004") continue;  // removed: anywhere
        if (names_after[now] == was_name) {
            ++stayed;
        } else {
            EXPECT_EQ(now, 3) << "key" << k << " of " << was_name << " moved to another old server";
            ++to_new;
        }
    }
    EXPECT_GT(stayed, 3 * to_new);  // the new server takes about a quarter
}
