// Channel namespaces: the lookup of a channel's options, the rights a
// namespace grants, and their configuration (flag form, [[namespace]]
// tables, errors with positions, the effective configuration, reload).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gateway/config.hpp"
#include "gateway/namespace_config.hpp"
#include "gateway/reload_policy.hpp"
#include "pubsub/channel_namespace.hpp"
#include "pubsub/channel_stream.hpp"

namespace wsgate::pubsub {
namespace {

namespace cf = proto::centrifugo;

TEST(ChannelNamespace, LookupByTheNameBeforeTheFirstColon) {
    ChannelOptions top;
    top.history_size = 1;
    std::vector<ChannelNamespace> named(2);
    named[0].name = "chat";
    named[0].options.history_size = 10;
    named[1].name = "news.eu";
    named[1].options.history_size = 20;
    EXPECT_EQ(find_channel_options(top, named, "lobby"), &top);
    EXPECT_EQ(find_channel_options(top, named, "lobby#42"), &top);
    // An empty namespace part is the default namespace (Centrifugo's too).
    EXPECT_EQ(find_channel_options(top, named, ":lobby"), &top);
    EXPECT_EQ(find_channel_options(top, named, "chat:room"), &named[0].options);
    EXPECT_EQ(find_channel_options(top, named, "chat:room:with:colons"), &named[0].options);
    EXPECT_EQ(find_channel_options(top, named, "news.eu:x"), &named[1].options);
    // Past the private prefix, as Centrifugo looks it up.
    EXPECT_EQ(find_channel_options(top, named, "$chat:secret"), &named[0].options);
    // Not configured: unknown (102), whatever resembles a configured one.
    EXPECT_EQ(find_channel_options(top, named, "cha:room"), nullptr);
    EXPECT_EQ(find_channel_options(top, named, "chatroom:x"), nullptr);
    EXPECT_EQ(find_channel_options(top, named, "CHAT:room"), nullptr);
    EXPECT_EQ(find_channel_options(top, {}, "chat:room"), nullptr);
}

TEST(ChannelNamespace, NamesFollowCentrifugosRule) {
    EXPECT_TRUE(valid_namespace_name("ab"));
    EXPECT_TRUE(valid_namespace_name("news.eu-west_2"));
    EXPECT_FALSE(valid_namespace_name(""));
    EXPECT_FALSE(valid_namespace_name("a"));
    EXPECT_FALSE(valid_namespace_name("a:b"));
    EXPECT_FALSE(valid_namespace_name("$ab"));
    EXPECT_FALSE(valid_namespace_name("a b"));
}

TEST(ChannelNamespace, RightsFeatureFirstThenClientSubscriberAnonymous) {
    ChannelOptions o;  // Centrifugo's defaults: nothing allowed, features off
    auto refused = [&](ChannelAction a, bool subscribed, bool anonymous) {
        std::optional<cf::ErrorCode> e = action_refused(o, a, subscribed, anonymous);
        return e ? static_cast<int>(*e) : 0;
    };
    EXPECT_EQ(refused(ChannelAction::subscribe, false, false), 103);
    EXPECT_EQ(refused(ChannelAction::publish, true, false), 103);
    EXPECT_EQ(refused(ChannelAction::history, true, false), 108);
    EXPECT_EQ(refused(ChannelAction::presence, true, false), 108);
    o.allow_subscribe_for_client = true;
    EXPECT_EQ(refused(ChannelAction::subscribe, false, false), 0);
    EXPECT_EQ(refused(ChannelAction::subscribe, false, true), 103);
    o.allow_subscribe_for_anonymous = true;
    EXPECT_EQ(refused(ChannelAction::subscribe, false, true), 0);
    o.allow_publish_for_subscriber = true;
    EXPECT_EQ(refused(ChannelAction::publish, false, false), 103);
    EXPECT_EQ(refused(ChannelAction::publish, true, false), 0);
    EXPECT_EQ(refused(ChannelAction::publish, true, true), 103);
    o.allow_publish_for_anonymous = true;
    EXPECT_EQ(refused(ChannelAction::publish, true, true), 0);
    o.allow_publish_for_subscriber = false;
    o.allow_publish_for_client = true;
    EXPECT_EQ(refused(ChannelAction::publish, false, false), 0);
    o.history_size = 5;
    EXPECT_EQ(refused(ChannelAction::history, true, false), 103);
    o.allow_history_for_subscriber = true;
    EXPECT_EQ(refused(ChannelAction::history, true, false), 0);
    EXPECT_EQ(refused(ChannelAction::history, false, false), 103);
    o.presence = true;
    o.allow_presence_for_client = true;
    EXPECT_EQ(refused(ChannelAction::presence, false, false), 0);
    EXPECT_EQ(refused(ChannelAction::presence, false, true), 103);
}

TEST(ChannelNamespace, StreamLimitsShrinkAtOnce) {
    ChannelStream s(5, 60000, 1);
    for (uint64_t o = 1; o <= 5; ++o) {
        cf::Publication pub;
        pub.data = "1";
        pub.offset = o;
        s.append(o, PublicationRef(PublicationRecord::create("c", 0, pub, 0)));
    }
    EXPECT_EQ(s.history().size(), 5u);
    s.set_history_limits(2, 60000);
    ASSERT_EQ(s.history().size(), 2u);
    EXPECT_EQ(s.history().front()->offset(), 4u);
    EXPECT_EQ(s.bounds().oldest, 4u);
    EXPECT_EQ(s.top(), 5u);
    s.set_history_limits(0, 60000);
    EXPECT_TRUE(s.history_empty());
    EXPECT_EQ(s.top(), 5u);  // the position stays: offsets go on from it
}

}  // namespace
}  // namespace wsgate::pubsub

namespace wsgate::gateway {
namespace {

std::string load(std::string_view toml, Config* c) {
    return load_config_text(toml, "gate.toml", c);
}

std::string parse(std::vector<const char*> args, Config* c) {
    args.insert(args.begin(), "wsgate");
    return parse_config(static_cast<int>(args.size()), args.data(), c);
}

TEST(NamespaceConfig, TablesWithCentrifugoNames) {
    Config c;
    ASSERT_EQ(load("mode = \"pubsub\"\n"
                   "[[namespace]]\n"
                   "name = \"chat\"\n"
                   "history_size = 10\n"
                   "history_ttl = \"1h30m\"\n"
                   "presence = true\n"
                   "allow_subscribe_for_client = true\n"
                   "allow_publish_for_subscriber = true\n"
                   "[[namespace]]\n"
                   "name = \"feed\"\n"
                   "history_ttl = 45\n",
                   &c),
              "");
    ASSERT_EQ(c.hub.namespaces.size(), 2u);
    EXPECT_EQ(c.hub.namespaces[0].name, "chat");
    EXPECT_EQ(c.hub.namespaces[0].options.history_size, 10u);
    EXPECT_EQ(c.hub.namespaces[0].options.history_ttl_s, 5400u);
    EXPECT_TRUE(c.hub.namespaces[0].options.presence);
    EXPECT_TRUE(c.hub.namespaces[0].options.allow_subscribe_for_client);
    EXPECT_TRUE(c.hub.namespaces[0].options.allow_publish_for_subscriber);
    EXPECT_FALSE(c.hub.namespaces[0].options.allow_publish_for_client);
    EXPECT_EQ(c.hub.namespaces[1].name, "feed");
    EXPECT_EQ(c.hub.namespaces[1].options.history_ttl_s, 45u);
    EXPECT_EQ(c.hub.namespaces[1].options.history_size, 0u);
    EXPECT_EQ(check_config(c), "");
    // The effective configuration holds them and loads back the same.
    std::string printed = format_config(c);
    EXPECT_NE(printed.find("namespace = [\"chat,history_size=10,history_ttl=5400,presence=true,"
                           "allow_subscribe_for_client=true,allow_publish_for_subscriber=true\", "
                           "\"feed,history_ttl=45\"]"),
              std::string::npos)
        << printed;
    Config loaded;
    ASSERT_EQ(load(printed, &loaded), "");
    EXPECT_EQ(loaded.hub.namespaces, c.hub.namespaces);
}

TEST(NamespaceConfig, FlagFormAndFlagsReplaceTheFile) {
    Config c;
    ASSERT_EQ(parse({"--mode", "pubsub", "--namespace", "chat,history_size=3,presence=true",
                     "--namespace", "dm,allow_publish_for_client=true,history_ttl=2m"},
                    &c),
              "");
    ASSERT_EQ(c.hub.namespaces.size(), 2u);
    EXPECT_EQ(c.hub.namespaces[1].options.history_ttl_s, 120u);
    EXPECT_TRUE(c.hub.namespaces[1].options.allow_publish_for_client);
    Config bad;
    EXPECT_NE(parse({"--namespace", "x"}, &bad), "");            // a name of one letter
    EXPECT_NE(parse({"--namespace", "chat,size=3"}, &bad), "");  // no such option
    EXPECT_NE(parse({"--namespace", "chat,history_size=-1"}, &bad), "");
    EXPECT_NE(parse({"--namespace", "chat,presence=yes"}, &bad), "");
    EXPECT_NE(parse({"--namespace", "chat,history_ttl=0"}, &bad), "");
    EXPECT_NE(parse({"--namespace", "chat,history_ttl=5x"}, &bad), "");
    Config twice;
    EXPECT_EQ(parse({"--namespace", "chat", "--namespace", "chat"}, &twice),
              "namespace 'chat' is defined twice");
    pubsub::ChannelNamespace ns;
    EXPECT_EQ(parse_namespace_flag("chat,size=3", &ns), "unknown namespace option 'size'");
    EXPECT_EQ(parse_namespace_flag("chat,history-size=3", &ns),
              "unknown namespace option 'history-size' (did you mean 'history_size'?)");
}

TEST(NamespaceConfig, ErrorsNameFileLineColumn) {
    Config c;
    EXPECT_EQ(load("[[namespace]]\nname = \"chat\"\nhistory-size = 3\n", &c),
              "gate.toml:3:1: unknown namespace option 'history-size' (did you mean "
              "'history_size'?)");
    EXPECT_EQ(load("[[namespace]]\nname = \"chat\"\n  allow_publish_for_clinet = true\n", &c),
              "gate.toml:3:3: unknown namespace option 'allow_publish_for_clinet' (did you mean "
              "'allow_publish_for_client'?)");
    EXPECT_EQ(load("[[namespace]]\nname = \"chat\"\njoin_leave = false\n", &c),
              "gate.toml:3:1: namespace option 'join_leave' is Centrifugo's; wsgate does not "
              "implement it");
    EXPECT_EQ(load("[[namespace]]\nname = \"chat\"\npresence = 1\n", &c),
              "gate.toml:3:12: presence: expected a boolean (true or false), got an integer");
    EXPECT_EQ(load("[[namespace]]\nname = \"chat\"\nhistory_size = \"10\"\n", &c),
              "gate.toml:3:16: history_size: expected an integer, got a string");
    EXPECT_EQ(load("[[namespace]]\nname = \"chat\"\nhistory_ttl = \"ten\"\n", &c),
              "gate.toml:3:15: bad value for history_ttl: ten");
    EXPECT_EQ(load("[[namespace]]\nhistory_size = 1\n", &c),
              "gate.toml:1:1: namespace without a name");
    EXPECT_EQ(load("[[namespace]]\nname = \"a:b\"\n", &c),
              "gate.toml:2:8: bad namespace name 'a:b' (2 or more of letters, digits, '-', "
              "'_', '.')");
    EXPECT_EQ(load("[[namespace]]\nname = \"chat\"\n[[namespace]]\nname = \"chat\"\n", &c),
              "gate.toml:4:8: namespace 'chat' is defined twice");
    // Centrifugo's key is plural: the hint says wsgate's.
    EXPECT_EQ(load("[[namespaces]]\nname = \"chat\"\n", &c),
              "gate.toml:1:3: unknown key 'namespaces' (did you mean 'namespace'?)");
    // The flag form in a file: an array of strings.
    Config s;
    ASSERT_EQ(load("namespace = [\"chat,history_size=2\"]\n", &s), "");
    ASSERT_EQ(s.hub.namespaces.size(), 1u);
    EXPECT_EQ(s.hub.namespaces[0].options.history_size, 2u);
}

TEST(NamespaceConfig, NamespacesAndHistoryAreLiveOnReload) {
    Config started;
    ASSERT_EQ(parse({"--mode", "pubsub", "--namespace", "chat,history_size=3"}, &started), "");
    Config next;
    ASSERT_EQ(parse({"--mode", "pubsub", "--namespace", "chat,history_size=1", "--namespace",
                     "news,presence=true", "--history-size", "4", "--history-ttl", "9"},
                    &next),
              "");
    ReloadPlan plan = plan_reload(started, started, next);
    EXPECT_EQ(plan.restart, std::vector<std::string>{});
    EXPECT_EQ(plan.applied, (std::vector<std::string>{"history-size", "history-ttl", "namespace"}));
    EXPECT_EQ(plan.effective.hub.namespaces, next.hub.namespaces);
    EXPECT_EQ(plan.effective.hub.history_size, 4u);
}

}  // namespace
}  // namespace wsgate::gateway
