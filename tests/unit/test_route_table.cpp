// The proxy's route table: flag parsing, longest-prefix routing, and the
// smooth weighted round robin of a pool.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "gateway/config.hpp"
#include "proxy/route_table.hpp"

using wsgate::proxy::RoundRobin;
using wsgate::proxy::RouteTable;

namespace {

RouteTable table(std::vector<std::string> upstreams, std::vector<std::string> routes) {
    RouteTable t;
    for (const auto& u : upstreams)
        EXPECT_EQ(t.add_upstream(u), "") << u;
    for (const auto& r : routes)
        EXPECT_EQ(t.add_route(r), "") << r;
    EXPECT_EQ(t.finish(), "");
    return t;
}

std::string pool_of(const RouteTable& t, std::string_view target) {
    const auto* pool = t.match(target);
    return pool == nullptr ? "-" : pool->name;
}

}  // namespace

TEST(RouteTable, ParsesServersOfPools) {
    RouteTable t =
        table({"echo=127.0.0.1:9000", "echo=[::1]:9001,weight=3", "chat=10.0.0.2:80"}, {"/=echo"});
    ASSERT_EQ(t.pools().size(), 2u);
    EXPECT_EQ(t.pools()[0].name, "echo");
    ASSERT_EQ(t.pools()[0].servers.size(), 2u);
    EXPECT_EQ(t.pools()[0].servers[0].name, "127.0.0.1:9000");
    EXPECT_EQ(t.pools()[0].servers[0].weight, 1u);
    EXPECT_EQ(t.pools()[0].servers[1].name, "[::1]:9001");
    EXPECT_EQ(t.pools()[0].servers[1].weight, 3u);
    EXPECT_EQ(t.pools()[0].servers[1].endpoint.addr.ss_family, AF_INET6);
    EXPECT_EQ(t.pools()[1].servers[0].name, "10.0.0.2:80");
}

TEST(RouteTable, RefusesBadSpecs) {
    RouteTable t;
    for (const char* bad :
         {"echo", "=127.0.0.1:1", "echo=127.0.0.1", "echo=local host:80", "echo=localhost:0",
          "echo=localhost", "echo=-x:80", "echo=127.0.0.1:70000", "echo=127.0.0.1:1,weight=0",
          "echo=127.0.0.1:1,weight=1001", "echo=127.0.0.1:1,w=2", "ec ho=127.0.0.1:1",
          "echo=::1:80"}) {
        EXPECT_NE(t.add_upstream(bad), "") << bad;
    }
    EXPECT_NE(t.add_route("chat=echo"), "");  // a prefix is a path
    EXPECT_NE(t.add_route("/chat"), "");
    EXPECT_NE(t.add_route("/chat="), "");
    EXPECT_EQ(t.add_route("/chat=echo"), "");
    EXPECT_NE(t.add_route("/chat=other"), "");  // the same prefix twice
    EXPECT_NE(t.finish(), "");                  // no pool "echo"
    RouteTable none;
    EXPECT_NE(none.finish(), "");  // no route at all
}

TEST(RouteTable, LongestPrefixWins) {
    RouteTable t = table({"a=127.0.0.1:1", "b=127.0.0.1:2", "c=127.0.0.1:3"},
                         {"/=a", "/chat/rooms=c", "/chat=b"});
    EXPECT_EQ(pool_of(t, "/"), "a");
    EXPECT_EQ(pool_of(t, "/other"), "a");
    EXPECT_EQ(pool_of(t, "/chat"), "b");
    EXPECT_EQ(pool_of(t, "/chat/x"), "b");
    EXPECT_EQ(pool_of(t, "/chatroom"), "b");  // a plain prefix, as nginx's prefix locations
    EXPECT_EQ(pool_of(t, "/chat/rooms/1"), "c");
    EXPECT_EQ(pool_of(t, "/chat/room"), "b");
    // The query is not part of the path.
    EXPECT_EQ(pool_of(t, "/x?p=/chat/rooms"), "a");
    EXPECT_EQ(pool_of(t, "/chat/rooms?x=1"), "c");
}

TEST(RouteTable, NoRouteIsNoPool) {
    RouteTable t = table({"a=127.0.0.1:1"}, {"/ws=a"});
    EXPECT_EQ(t.match("/"), nullptr);
    EXPECT_EQ(t.match("/w"), nullptr);
    EXPECT_EQ(t.match_index("/other"), -1);
    EXPECT_EQ(pool_of(t, "/ws"), "a");
}

TEST(RoundRobin, EqualWeightsTakeTurns) {
    RouteTable t = table({"p=127.0.0.1:1", "p=127.0.0.1:2", "p=127.0.0.1:3"}, {"/=p"});
    RoundRobin rr(t.pools()[0]);
    std::vector<uint32_t> picks;
    for (int i = 0; i < 6; ++i)
        picks.push_back(rr.next(t.pools()[0]));
    EXPECT_EQ(picks, (std::vector<uint32_t>{0, 1, 2, 0, 1, 2}));
}

TEST(RoundRobin, WeightsAreSmooth) {
    RouteTable t = table({"p=127.0.0.1:1,weight=5", "p=127.0.0.1:2", "p=127.0.0.1:3"}, {"/=p"});
    RoundRobin rr(t.pools()[0]);
    std::vector<uint32_t> picks;
    for (int i = 0; i < 7; ++i)
        picks.push_back(rr.next(t.pools()[0]));
    // nginx's smooth weighted round robin on 5,1,1.
    EXPECT_EQ(picks, (std::vector<uint32_t>{0, 0, 1, 0, 2, 0, 0}));
    std::map<uint32_t, int> count;
    for (int i = 0; i < 7000; ++i)
        ++count[rr.next(t.pools()[0])];
    EXPECT_EQ(count[0], 5000);
    EXPECT_EQ(count[1], 1000);
    EXPECT_EQ(count[2], 1000);
}

TEST(RouteTable, ProxyFlags) {
    using wsgate::gateway::Config;
    auto parse = [](std::vector<const char*> args, Config* c) {
        args.insert(args.begin(), "wsgate");
        return wsgate::gateway::parse_config(static_cast<int>(args.size()), args.data(), c);
    };
    Config c;
    EXPECT_EQ(parse({"--mode", "proxy", "--upstream", "e=127.0.0.1:9", "--route", "/=e",
                     "--upstream-connect-timeout", "0.5"},
                    &c),
              "");
    EXPECT_EQ(c.mode, wsgate::gateway::Mode::proxy);
    EXPECT_EQ(c.upstream_connect_timeout_s, 0.5);
    RouteTable routes;
    EXPECT_EQ(wsgate::gateway::proxy_routes(c, &routes), "");
    EXPECT_EQ(pool_of(routes, "/x"), "e");
    Config no_route;
    EXPECT_NE(parse({"--mode", "proxy", "--upstream", "e=127.0.0.1:9"}, &no_route), "");
    Config not_proxy;
    EXPECT_NE(parse({"--upstream", "e=127.0.0.1:9", "--route", "/=e"}, &not_proxy), "");
    // Direct descriptors in proxy mode need io_uring (epoll has none).
    Config direct_epoll;
    EXPECT_NE(parse({"--mode", "proxy", "--upstream", "e=127.0.0.1:9", "--route", "/=e",
                     "--direct-descriptors", "--backend", "epoll"},
                    &direct_epoll),
              "");
    Config direct_uring;
    EXPECT_EQ(parse({"--mode", "proxy", "--upstream", "e=127.0.0.1:9", "--route", "/=e",
                     "--direct-descriptors", "--backend", "io_uring"},
                    &direct_uring),
              "");
}

TEST(RouteTable, RelayModePerRoute) {
    RouteTable t = table({"e=127.0.0.1:9000"},
                         {"/a=e", "/b=e,relay=frames", "/c=e,relay=tunnel", "/d=x=e,relay=frames"});
    ASSERT_NE(t.match_route("/a/1"), nullptr);
    EXPECT_EQ(t.match_route("/a/1")->relay, wsgate::proxy::Relay::tunnel);
    EXPECT_EQ(t.match_route("/b?q")->relay, wsgate::proxy::Relay::frames);
    EXPECT_EQ(t.match_route("/c")->relay, wsgate::proxy::Relay::tunnel);
    EXPECT_EQ(t.match_route("/d=x/y")->relay, wsgate::proxy::Relay::frames);
    EXPECT_EQ(t.match_route("/z"), nullptr);
    RouteTable bad;
    EXPECT_NE(bad.add_route("/b=e,relay=bytes"), "");
    EXPECT_NE(bad.add_route("/b=e,weight=2"), "");
}

TEST(RouteTable, HostRoutesFirstHostlessAsFallback) {
    RouteTable t =
        table({"a=127.0.0.1:1", "b=127.0.0.1:2", "c=127.0.0.1:3", "d=127.0.0.1:4"},
              {"/=a", "/chat=a", "Chat.Example.com/=b", "chat.example.com/admin=c", "[::1]/=d"});
    auto pool = [&](std::string_view target, std::string_view host) {
        const auto* r = t.match_route(target, host);
        return r == nullptr ? std::string("-") : t.pools()[r->pool].name;
    };
    EXPECT_EQ(pool("/chat", "chat.example.com"), "b");       // its host's routes first
    EXPECT_EQ(pool("/chat", "CHAT.example.COM:8443"), "b");  // case and port ignored
    EXPECT_EQ(pool("/chat", "chat.example.com."), "b");      // absolute name
    EXPECT_EQ(pool("/admin/x", "chat.example.com"), "c");    // longest within the host
    EXPECT_EQ(pool("/chat", "other.example.com"), "a");      // host-less: the fallback
    EXPECT_EQ(pool("/chat", ""), "a");                       // no Host at all
    EXPECT_EQ(pool("/x", "[::1]:9000"), "d");
    EXPECT_EQ(pool("/x", "[::2]:9000"), "a");
    EXPECT_EQ(t.routes().front().host.empty() ? "" : t.routes().front().host, "chat.example.com");

    RouteTable only_hosts = table({"a=127.0.0.1:1"}, {"a.example/=a"});
    EXPECT_EQ(only_hosts.match_route("/", "b.example"), nullptr);  // 404
    EXPECT_NE(only_hosts.match_route("/", "A.EXAMPLE"), nullptr);

    RouteTable bad;
    for (const char* spec : {"exa mple/=a", "host:80/=a", "[::1/=a", "[zz]/=a", "h/x"}) {
        EXPECT_NE(bad.add_route(spec), "") << spec;
    }
    EXPECT_EQ(bad.add_route("h.example/x=a"), "");
    EXPECT_EQ(bad.add_route("/x=a"), "");           // the same prefix without host: another route
    EXPECT_NE(bad.add_route("H.example/x=a"), "");  // the same host and prefix twice
}

// Servers given by name are resolved once all flags are in (localhost: from
// /etc/hosts, no DNS server needed); the ring and the logs use the name.
TEST(RouteTable, ServerNamesResolveAtFinish) {
    RouteTable t = table({"n=localhost:9000", "n=127.0.0.1:9001"}, {"/=n"});
    const auto& s = t.pools()[0].servers[0];
    EXPECT_EQ(s.name, "localhost:9000");
    EXPECT_EQ(s.host_name, "localhost");
    ASSERT_TRUE(s.endpoint.addr.ss_family == AF_INET || s.endpoint.addr.ss_family == AF_INET6);
    EXPECT_EQ(wsgate::io::format_endpoint(s.endpoint).ends_with(":9000"), true)
        << wsgate::io::format_endpoint(s.endpoint);
    std::string address = wsgate::io::format_endpoint(s.endpoint);
    EXPECT_TRUE(address == "127.0.0.1:9000" || address == "[::1]:9000") << address;
    EXPECT_EQ(t.pools()[0].servers[1].host_name, "");
}
