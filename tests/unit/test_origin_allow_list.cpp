// Origin allow-list patterns (RFC 6454 serialised origins, RFC 6455 §10.2).
#include <gtest/gtest.h>

#include "ws/origin_allow_list.hpp"

using wsgate::ws::OriginAllowList;
using wsgate::ws::OriginPolicy;

TEST(OriginAllowList, EmptyAllowsEverything) {
    OriginAllowList list;
    EXPECT_TRUE(list.allows("https://evil.test"));
    EXPECT_TRUE(list.allows(""));
}

TEST(OriginAllowList, ExactOriginsCompareSchemeHostAndPort) {
    OriginAllowList list;
    ASSERT_EQ(list.add("https://app.example.com"), "");
    ASSERT_EQ(list.add("http://localhost:3000"), "");
    EXPECT_TRUE(list.allows("https://app.example.com"));
    EXPECT_TRUE(list.allows("HTTPS://App.Example.COM"));
    EXPECT_TRUE(list.allows("http://localhost:3000"));
    EXPECT_FALSE(list.allows("http://app.example.com"));
    EXPECT_FALSE(list.allows("https://app.example.com:443"));
    EXPECT_FALSE(list.allows("http://localhost:3001"));
    EXPECT_FALSE(list.allows("http://localhost"));
    EXPECT_FALSE(list.allows("https://app.example.com.evil.test"));
    EXPECT_FALSE(list.allows("https://app.example.com/"));
    EXPECT_FALSE(list.allows("https://app.example.com https://x.test"));
    EXPECT_FALSE(list.allows("null"));
    EXPECT_FALSE(list.allows("app.example.com"));  // an Origin always has its scheme
    EXPECT_TRUE(list.allows(""));                  // no Origin: not a browser
}

TEST(OriginAllowList, WildcardsMatchSubdomainsOnly) {
    OriginAllowList list;
    ASSERT_EQ(list.add("https://*.example.com"), "");
    ASSERT_EQ(list.add("*.example.org"), "");
    EXPECT_TRUE(list.allows("https://a.example.com"));
    EXPECT_TRUE(list.allows("https://a.b.example.com"));
    EXPECT_FALSE(list.allows("https://example.com"));
    EXPECT_FALSE(list.allows("https://aexample.com"));
    EXPECT_FALSE(list.allows("https://.example.com"));
    EXPECT_FALSE(list.allows("http://a.example.com"));
    EXPECT_FALSE(list.allows("https://a.example.com:8443"));
    EXPECT_TRUE(list.allows("http://a.example.org"));
    EXPECT_TRUE(list.allows("wss://x.example.org"));
    EXPECT_FALSE(list.allows("https://*.example.org"));
}

TEST(OriginAllowList, IPv6HostsAndStar) {
    OriginAllowList list;
    ASSERT_EQ(list.add("http://[::1]:8080"), "");
    EXPECT_TRUE(list.allows("http://[::1]:8080"));
    EXPECT_FALSE(list.allows("http://[::1]"));
    ASSERT_EQ(list.add("*"), "");
    EXPECT_TRUE(list.allows("null"));
}

TEST(OriginAllowList, RefusesWhatIsNoPattern) {
    OriginAllowList list;
    EXPECT_NE(list.add(""), "");
    EXPECT_NE(list.add("https://"), "");
    EXPECT_NE(list.add("https://a.*.example.com"), "");
    EXPECT_NE(list.add("https://*"), "");
    EXPECT_NE(list.add("https://app.example.com/path"), "");
    EXPECT_NE(list.add("https://app.example.com:http"), "");
    EXPECT_NE(list.add("://app.example.com"), "");
    EXPECT_TRUE(list.empty());
}

TEST(OriginPolicy, TheMostSpecificScopeWithPatternsDecides) {
    OriginPolicy p;
    EXPECT_TRUE(p.empty());
    EXPECT_TRUE(p.allows(0, "/", "https://any.test"));
    ASSERT_EQ(p.global().add("https://app.test"), "");
    ASSERT_EQ(p.listener(1).add("http://localhost:3000"), "");
    ASSERT_EQ(p.path("/admin").add("https://admin.test"), "");
    ASSERT_EQ(p.path("/admin/deep").add("https://deep.test"), "");
    EXPECT_FALSE(p.empty());
    EXPECT_TRUE(p.allows(0, "/chat", "https://app.test"));
    EXPECT_FALSE(p.allows(0, "/chat", "http://localhost:3000"));
    EXPECT_TRUE(p.allows(1, "/chat", "http://localhost:3000"));
    EXPECT_FALSE(p.allows(1, "/chat", "https://app.test"));
    EXPECT_TRUE(p.allows(0, "/admin?x=/", "https://admin.test"));
    EXPECT_TRUE(p.allows(1, "/admin/x", "https://admin.test"));
    EXPECT_FALSE(p.allows(0, "/admin/x", "https://app.test"));
    EXPECT_TRUE(p.allows(0, "/admin/deep/1", "https://deep.test"));
    EXPECT_FALSE(p.allows(0, "/admin/deep/1", "https://admin.test"));
    EXPECT_FALSE(p.allows(0, "/chat?next=/admin", "https://admin.test"));  // the query is no path
    EXPECT_TRUE(p.allows(6, "/", "https://app.test"));  // later listeners: global
    EXPECT_TRUE(p.allows(0, "/", ""));                  // no Origin: not a browser
}
