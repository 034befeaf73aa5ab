#include "proto/centrifugo_command_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "guard_page.hpp"

namespace wsgate::proto::centrifugo {
namespace {

// Frames npm centrifuge 5.8.0 sent, captured by
// tests/peers/capture_centrifuge_commands.mjs: the SDK writes the request
// first and the id last (it sets cmd.id after building the command), batches
// with '\n', and sends subscribe in the same frame as connect, before the
// connect reply.
constexpr std::string_view kSdkConnectAndSubscribe =
    "{\"connect\":{\"token\":\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.sig\",\"data\":{"
    "\"hello\":\"world\"},\"name\":\"capture\",\"version\":\"1.2.3\"},\"id\":1}\n"
    "{\"subscribe\":{\"channel\":\"news:sport\",\"flag\":1,\"recover\":true,\"offset\":5,"
    "\"epoch\":\"e0\"},\"id\":2}";
constexpr std::string_view kSdkPublish =
    "{\"publish\":{\"channel\":\"news:sport\",\"data\":{\"text\":\"hi\",\"n\":1500,\"list\":[1,"
    "\"two\",null]}},\"id\":3}";
constexpr std::string_view kSdkPong = "{}";
constexpr std::string_view kSdkHistory =
    "{\"history\":{\"channel\":\"news:sport\",\"since\":{\"offset\":3,\"epoch\":\"e1\"},\"limit\":"
    "10,\"reverse\":true},\"id\":4}";
constexpr std::string_view kSdkPresenceStats =
    "{\"presence_stats\":{\"channel\":\"news:sport\"},\"id\":5}";
constexpr std::string_view kSdkPresence = "{\"presence\":{\"channel\":\"news:sport\"},\"id\":6}";
constexpr std::string_view kSdkRpc = "{\"rpc\":{\"method\":\"sum\",\"data\":[1,2]},\"id\":7}";
constexpr std::string_view kSdkSend = "{\"send\":{\"data\":{\"fire\":\"and forget\"}}}";
constexpr std::string_view kSdkUnsubscribe =
    "{\"unsubscribe\":{\"channel\":\"news:sport\"},\"id\":8}";
constexpr std::string_view kSdkAnonymousConnectAndSubscribe =
    "{\"connect\":{\"name\":\"js\"},\"id\":1}\n{\"subscribe\":{\"channel\":\"chat\",\"flag\":1},"
    "\"id\":2}";
// Built from the SDK source (Centrifuge._refresh): sent when a connect reply
// said expires with a ttl.
constexpr std::string_view kSdkRefresh = "{\"refresh\":{\"token\":\"t2\"},\"id\":9}";

constexpr size_t kMax = 1 << 20;

struct Parsed {
    std::vector<Command> commands;
    ParseError error = ParseError::none;
    bool bad = false;
};

// Parses a frame through the copying entry point (the bytes end at a guard
// page: start_copied must read nothing past the frame).
Parsed parse_copied(CommandParser& parser, std::string_view frame) {
    Parsed p;
    parser.start_copied(frame);
    Command c;
    for (;;) {
        ParseStatus s = parser.next(c);
        if (s == ParseStatus::end_of_frame) break;
        if (s == ParseStatus::bad_request) {
            p.bad = true;
            p.error = parser.error();
            break;
        }
        p.commands.push_back(c);
    }
    return p;
}

ParseError error_of(std::string_view frame) {
    CommandParser parser(kMax);
    test::GuardedBuffer guarded(frame);
    Parsed p = parse_copied(parser, std::string_view(guarded.chars(), guarded.size()));
    EXPECT_TRUE(p.bad) << frame;
    return p.error;
}

Command only_command(CommandParser& parser, std::string_view frame) {
    Parsed p = parse_copied(parser, frame);
    EXPECT_FALSE(p.bad) << frame << ": " << parse_error_text(p.error);
    EXPECT_EQ(p.commands.size(), 1u) << frame;
    return p.commands.empty() ? Command{} : p.commands[0];
}

TEST(CentrifugoCommandParser, SdkConnectAndSubscribeInOneFrame) {
    CommandParser parser(kMax);
    Parsed p = parse_copied(parser, kSdkConnectAndSubscribe);
    ASSERT_FALSE(p.bad);
    ASSERT_EQ(p.commands.size(), 2u);
    // The views of the first command were taken before the second was
    // parsed: data points into the frame copy, so it is still intact.
    const Command& connect = p.commands[0];
    EXPECT_EQ(connect.method, Method::connect);
    EXPECT_EQ(connect.id, 1u);
    EXPECT_EQ(connect.token, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.sig");
    EXPECT_EQ(connect.data, "{\"hello\":\"world\"}");
    EXPECT_EQ(connect.name, "capture");
    EXPECT_EQ(connect.version, "1.2.3");
    const Command& sub = p.commands[1];
    EXPECT_EQ(sub.method, Method::subscribe);
    EXPECT_EQ(sub.id, 2u);
    EXPECT_EQ(sub.channel, "news:sport");
    EXPECT_TRUE(sub.recover);
    EXPECT_EQ(sub.offset, 5u);
    EXPECT_EQ(sub.epoch, "e0");
    EXPECT_EQ(sub.type, 0);
}

TEST(CentrifugoCommandParser, SdkAnonymousConnectAndPlainSubscribe) {
    CommandParser parser(kMax);
    Parsed p = parse_copied(parser, kSdkAnonymousConnectAndSubscribe);
    ASSERT_FALSE(p.bad);
    ASSERT_EQ(p.commands.size(), 2u);
    EXPECT_EQ(p.commands[0].method, Method::connect);
    EXPECT_TRUE(p.commands[0].token.empty());
    EXPECT_TRUE(p.commands[0].data.empty());
    EXPECT_EQ(p.commands[0].name, "js");
    EXPECT_EQ(p.commands[1].channel, "chat");
    EXPECT_FALSE(p.commands[1].recover);
    EXPECT_EQ(p.commands[1].offset, 0u);
}

TEST(CentrifugoCommandParser, SdkPublishKeepsDataBytes) {
    CommandParser parser(kMax);
    Command c = only_command(parser, kSdkPublish);
    EXPECT_EQ(c.method, Method::publish);
    EXPECT_EQ(c.id, 3u);
    EXPECT_EQ(c.channel, "news:sport");
    EXPECT_EQ(c.data, "{\"text\":\"hi\",\"n\":1500,\"list\":[1,\"two\",null]}");
}

TEST(CentrifugoCommandParser, SdkPongIsAnEmptyObject) {
    CommandParser parser(kMax);
    Command c = only_command(parser, kSdkPong);
    EXPECT_EQ(c.method, Method::pong);
    EXPECT_EQ(c.id, 0u);
}

TEST(CentrifugoCommandParser, SdkHistoryWithSinceLimitReverse) {
    CommandParser parser(kMax);
    Command c = only_command(parser, kSdkHistory);
    EXPECT_EQ(c.method, Method::history);
    EXPECT_EQ(c.id, 4u);
    EXPECT_EQ(c.channel, "news:sport");
    EXPECT_TRUE(c.has_since);
    EXPECT_EQ(c.offset, 3u);
    EXPECT_EQ(c.epoch, "e1");
    EXPECT_TRUE(c.has_limit);
    EXPECT_EQ(c.limit, 10);
    EXPECT_TRUE(c.reverse);
}

TEST(CentrifugoCommandParser, SdkHistoryWithoutOptions) {
    CommandParser parser(kMax);
    Command c = only_command(parser, "{\"history\":{\"channel\":\"a\"},\"id\":4}");
    EXPECT_FALSE(c.has_since);
    EXPECT_FALSE(c.has_limit);
    EXPECT_FALSE(c.reverse);
}

TEST(CentrifugoCommandParser, SdkPresenceStatsPresenceRpcSendUnsubscribeRefresh) {
    CommandParser parser(kMax);
    Command c = only_command(parser, kSdkPresenceStats);
    EXPECT_EQ(c.method, Method::presence_stats);
    EXPECT_EQ(c.id, 5u);
    EXPECT_EQ(c.channel, "news:sport");
    c = only_command(parser, kSdkPresence);
    EXPECT_EQ(c.method, Method::presence);
    EXPECT_EQ(c.id, 6u);
    c = only_command(parser, kSdkRpc);
    EXPECT_EQ(c.method, Method::rpc);
    EXPECT_EQ(c.rpc_method, "sum");
    EXPECT_EQ(c.data, "[1,2]");
    c = only_command(parser, kSdkSend);
    EXPECT_EQ(c.method, Method::send);
    EXPECT_EQ(c.id, 0u);
    EXPECT_EQ(c.data, "{\"fire\":\"and forget\"}");
    c = only_command(parser, kSdkUnsubscribe);
    EXPECT_EQ(c.method, Method::unsubscribe);
    EXPECT_EQ(c.id, 8u);
    EXPECT_EQ(c.channel, "news:sport");
    c = only_command(parser, kSdkRefresh);
    EXPECT_EQ(c.method, Method::refresh);
    EXPECT_EQ(c.token, "t2");
}

TEST(CentrifugoCommandParser, MethodKeysAreTheJsonKeys) {
    EXPECT_EQ(method_key(Method::connect), "connect");
    EXPECT_EQ(method_key(Method::presence_stats), "presence_stats");
    EXPECT_EQ(method_key(Method::sub_refresh), "sub_refresh");
    EXPECT_EQ(method_key(Method::pong), "");
}

// The data passthrough: whatever JSON value arrives, its exact bytes come out,
// wherever the field sits and whatever whitespace surrounds it.
TEST(CentrifugoCommandParser, DataPassthroughByteForByte) {
    const std::string_view values[] = {
        "{}",
        "[]",
        "{\"a\" : [ 1 , 2.5e-3 , -0 , true , false , null , \"x\\ny\\u00e9\\ud83d\\ude00\" ] }",
        "\"just a string with \\\"quotes\\\" and \\\\ backslash\"",
        "12345678901234567890123456789012345678901234567890",
        "-1.5E+400",
        "true",
        "false",
        "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
        "[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]",
        "{\"nested\":{\"deeper\":{\"k\":\"}\\\"]\"}}}",
    };
    const char* layouts[] = {
        "{\"publish\":{\"channel\":\"c\",\"data\":%s},\"id\":1}",
        "{\"id\":1,\"publish\":{\"data\":%s,\"channel\":\"c\"}}",
        "{ \"publish\" : { \"data\" :  %s  , \"channel\" : \"c\" } , \"id\" : 1 }",
        "{\"publish\":{\"channel\":\"c\",\"data\":\t%s\r },\"id\":1}",
    };
    CommandParser parser(kMax);
    for (std::string_view v : values) {
        for (const char* layout : layouts) {
            std::string frame = layout;
            frame.replace(frame.find("%s"), 2, v);
            test::GuardedBuffer guarded(frame);
            Command c = only_command(parser, std::string_view(guarded.chars(), guarded.size()));
            EXPECT_EQ(c.data, v) << frame;
            EXPECT_EQ(c.channel, "c") << frame;
        }
    }
}

TEST(CentrifugoCommandParser, DataViewPointsIntoThePaddedFrame) {
    std::string frame(kSdkPublish);
    frame.append(kCommandPadding, 'x');  // padding content does not matter
    CommandParser parser(kMax);
    parser.start_padded(std::string_view(frame.data(), kSdkPublish.size()), frame.size());
    Command c;
    ASSERT_EQ(parser.next(c), ParseStatus::command);
    EXPECT_GE(c.data.data(), frame.data());
    EXPECT_LT(c.data.data(), frame.data() + kSdkPublish.size());
    EXPECT_EQ(parser.next(c), ParseStatus::end_of_frame);
}

// The padded entry point reads at most frame + kCommandPadding: the padding
// here is the last bytes before a PROT_NONE page.
TEST(CentrifugoCommandParser, PaddedFrameEndingAtGuardPage) {
    std::string padded(kSdkConnectAndSubscribe);
    padded.append(kCommandPadding, ' ');
    test::GuardedBuffer guarded(padded);
    CommandParser parser(kMax);
    parser.start_padded(std::string_view(guarded.chars(), kSdkConnectAndSubscribe.size()),
                        guarded.size());
    Command c;
    ASSERT_EQ(parser.next(c), ParseStatus::command);
    EXPECT_EQ(c.method, Method::connect);
    ASSERT_EQ(parser.next(c), ParseStatus::command);
    EXPECT_EQ(c.method, Method::subscribe);
    EXPECT_EQ(parser.next(c), ParseStatus::end_of_frame);
}

TEST(CentrifugoCommandParser, EveryCommandAtAGuardPage) {
    const std::string_view frames[] = {kSdkConnectAndSubscribe, kSdkPublish,  kSdkPong, kSdkHistory,
                                       kSdkPresenceStats,       kSdkPresence, kSdkRpc,  kSdkSend,
                                       kSdkUnsubscribe,         kSdkRefresh};
    CommandParser parser(kMax);
    for (std::string_view f : frames) {
        // Every prefix too: a cut command is malformed, never a crash.
        for (size_t len = 0; len <= f.size(); ++len) {
            test::GuardedBuffer guarded(f.substr(0, len));
            Parsed p = parse_copied(parser, std::string_view(guarded.chars(), guarded.size()));
            if (len == f.size()) {
                EXPECT_FALSE(p.bad) << f;
            }
        }
    }
}

// simdjson reads the padding: when its first byte is a closing bracket it
// checks the balance of the whole document up front. The verdict must not
// change with what the padding holds (found by fuzz_centrifugo_commands: an
// unbalanced command was "wrong type" or "malformed" depending on it).
TEST(CentrifugoCommandParser, VerdictDoesNotDependOnPadding) {
    const std::string_view frames[] = {
        R"({"history":"e1"},"limit":10,"id":4})",
        R"({"id":1,"ping":{}}})",
        R"({"ping":{},"ping":{},"id":1}})",
        R"({"publish":{"channel":"c","data":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},"id":1}})",
        "[1]]",
        "[1]",
        "1 2",
        "\"a\" \"b\"",
        R"({"id":1,"ping":{}})",
    };
    for (std::string_view f : frames) {
        std::vector<std::string> verdicts;
        for (int pad = 0; pad < 256; ++pad) {
            std::string frame(f);
            frame.append(kCommandPadding, static_cast<char>(pad));
            CommandParser parser(kMax);
            parser.start_padded(std::string_view(frame.data(), f.size()), frame.size());
            Command c;
            std::string v;
            for (;;) {
                ParseStatus s = parser.next(c);
                v += std::to_string(static_cast<int>(s)) + "/" +
                     std::to_string(static_cast<int>(parser.error())) + " ";
                if (s != ParseStatus::command) break;
            }
            verdicts.push_back(v);
        }
        for (int pad = 1; pad < 256; ++pad) {
            EXPECT_EQ(verdicts[pad], verdicts[0]) << f << " padding " << pad;
        }
    }
}

TEST(CentrifugoCommandParser, BlankLinesAndTrailingNewlineAreSkipped) {
    CommandParser parser(kMax);
    Parsed p = parse_copied(parser, "\n{}\n\r\n  \n{\"ping\":{},\"id\":3}\n");
    ASSERT_FALSE(p.bad);
    ASSERT_EQ(p.commands.size(), 2u);
    EXPECT_EQ(p.commands[0].method, Method::pong);
    EXPECT_EQ(p.commands[1].method, Method::ping);
    EXPECT_EQ(p.commands[1].id, 3u);
    p = parse_copied(parser, "");
    EXPECT_FALSE(p.bad);
    EXPECT_TRUE(p.commands.empty());
}

TEST(CentrifugoCommandParser, ManyCommandsInOneFrame) {
    std::string frame;
    for (int i = 1; i <= 500; ++i) {
        frame += "{\"publish\":{\"channel\":\"c\",\"data\":" + std::to_string(i) +
                 "},\"id\":" + std::to_string(i) + "}\n";
    }
    CommandParser parser(kMax);
    Parsed p = parse_copied(parser, frame);
    ASSERT_FALSE(p.bad);
    ASSERT_EQ(p.commands.size(), 500u);
    for (int i = 1; i <= 500; ++i) {
        EXPECT_EQ(p.commands[i - 1].id, static_cast<uint32_t>(i));
        EXPECT_EQ(p.commands[i - 1].data, std::to_string(i));
    }
}

TEST(CentrifugoCommandParser, BadCommandStopsTheFrame) {
    CommandParser parser(kMax);
    Parsed p = parse_copied(parser, "{\"ping\":{},\"id\":1}\n{oops}\n{\"ping\":{},\"id\":2}");
    EXPECT_TRUE(p.bad);
    EXPECT_EQ(p.error, ParseError::malformed_json);
    ASSERT_EQ(p.commands.size(), 1u);  // the one before is still handled
    Command c;
    EXPECT_EQ(parser.next(c), ParseStatus::end_of_frame);
}

TEST(CentrifugoCommandParser, MalformedJson) {
    const std::string_view frames[] = {
        "{",
        "{\"id\":1",
        "{\"id\":1,}",
        "{\"id\":1 \"ping\":{}}",
        "{'id':1}",
        "{\"id\":01,\"ping\":{}}",
        "{\"ping\":{},\"id\":1} trailing",
        "{\"ping\":{},\"id\":1}{}",
        "{\"ping\":{\"x\":tru},\"id\":1}",
        "{\"ping\":{\"x\":nul},\"id\":1}",
        "{\"ping\":{\"x\":\"\\q\"},\"id\":1}",
        "{\"ping\":{\"x\":\"\\ud800\"},\"id\":1}",
        "{\"ping\":{\"x\":1.},\"id\":1}",
        "{\"ping\":{\"x\":.5},\"id\":1}",
        "{\"ping\":{\"x\":1e},\"id\":1}",
        "{\"ping\":{\"x\":+1},\"id\":1}",
        "{\"ping\":{\"x\":[1,]},\"id\":1}",
        "{\"ping\":{\"x\":\"a\tb\"},\"id\":1}",
        "{\"unknown\":[1 2],\"id\":1}",
        "{\"publish\":{\"channel\":\"c\",\"data\":{\"a\":1,}},\"id\":1}",
        "{\"publish\":{\"channel\":\"c\",\"data\":[1,2},\"id\":1}",
        "{\"publish\":{\"channel\":\"c\",\"data\":\"\xff\"},\"id\":1}",
        "{\"publish\":{\"channel\":\"c\",\"data\":0x10},\"id\":1}",
        "{\"publish\":{\"channel\":\"c\",\"data\":NaN},\"id\":1}",
        "not json at all",
    };
    for (std::string_view f : frames) {
        EXPECT_EQ(error_of(f), ParseError::malformed_json) << f;
    }
}

TEST(CentrifugoCommandParser, NotAnObject) {
    for (std::string_view f : {"[]", "1", "\"connect\"", "null", "true"}) {
        EXPECT_EQ(error_of(f), ParseError::not_an_object) << f;
    }
}

TEST(CentrifugoCommandParser, UnknownMethodWithAnId) {
    EXPECT_EQ(error_of("{\"id\":1}"), ParseError::no_method);
    EXPECT_EQ(error_of("{\"id\":1,\"foo\":{}}"), ParseError::no_method);
    EXPECT_EQ(error_of("{\"id\":1,\"Connect\":{}}"), ParseError::no_method);
    EXPECT_EQ(error_of("{\"id\":1,\"connect\":null}"), ParseError::no_method);
}

TEST(CentrifugoCommandParser, UnknownFieldsWithoutIdAreAPong) {
    CommandParser parser(kMax);
    EXPECT_EQ(only_command(parser, "{\"foo\":{\"bar\":[1,{}]}}").method, Method::pong);
    EXPECT_EQ(only_command(parser, "{\"id\":0}").method, Method::pong);
    EXPECT_EQ(only_command(parser, "{\"id\":null}").method, Method::pong);
}

TEST(CentrifugoCommandParser, UnknownFieldsInsideKnownRequestsAreIgnored) {
    CommandParser parser(kMax);
    Command c =
        only_command(parser,
                     "{\"subscribe\":{\"channel\":\"a\",\"tf\":{\"op\":\"and\",\"nodes\":[]},"
                     "\"future\":[true,null]},\"id\":2,\"meta\":\"x\"}");
    EXPECT_EQ(c.method, Method::subscribe);
    EXPECT_EQ(c.channel, "a");
}

TEST(CentrifugoCommandParser, SeveralMethods) {
    EXPECT_EQ(error_of("{\"id\":1,\"ping\":{},\"connect\":{}}"), ParseError::several_methods);
    EXPECT_EQ(error_of("{\"id\":1,\"ping\":{},\"ping\":{}}"), ParseError::several_methods);
}

TEST(CentrifugoCommandParser, MissingId) {
    EXPECT_EQ(error_of("{\"connect\":{}}"), ParseError::missing_id);
    EXPECT_EQ(error_of("{\"subscribe\":{\"channel\":\"a\"}}"), ParseError::missing_id);
    EXPECT_EQ(error_of("{\"ping\":{},\"id\":0}"), ParseError::missing_id);
}

TEST(CentrifugoCommandParser, MissingFields) {
    EXPECT_EQ(error_of("{\"subscribe\":{},\"id\":1}"), ParseError::missing_channel);
    EXPECT_EQ(error_of("{\"subscribe\":{\"channel\":\"\"},\"id\":1}"), ParseError::missing_channel);
    EXPECT_EQ(error_of("{\"subscribe\":{\"channel\":null},\"id\":1}"), ParseError::missing_channel);
    EXPECT_EQ(error_of("{\"unsubscribe\":{},\"id\":1}"), ParseError::missing_channel);
    EXPECT_EQ(error_of("{\"presence_stats\":{},\"id\":1}"), ParseError::missing_channel);
    EXPECT_EQ(error_of("{\"presence\":{},\"id\":1}"), ParseError::missing_channel);
    EXPECT_EQ(error_of("{\"history\":{},\"id\":1}"), ParseError::missing_channel);
    EXPECT_EQ(error_of("{\"publish\":{\"data\":1},\"id\":1}"), ParseError::missing_channel);
    EXPECT_EQ(error_of("{\"publish\":{\"channel\":\"c\"},\"id\":1}"), ParseError::missing_data);
    EXPECT_EQ(error_of("{\"publish\":{\"channel\":\"c\",\"data\":null},\"id\":1}"),
              ParseError::missing_data);
    EXPECT_EQ(error_of("{\"refresh\":{},\"id\":1}"), ParseError::missing_token);
}

TEST(CentrifugoCommandParser, WrongTypes) {
    const std::string_view frames[] = {
        "{\"ping\":{},\"id\":\"1\"}",
        "{\"ping\":{},\"id\":1.0}",
        "{\"ping\":{},\"id\":1e2}",
        "{\"ping\":{},\"id\":-1}",
        "{\"ping\":{},\"id\":4294967296}",
        "{\"ping\":{},\"id\":true}",
        "{\"ping\":[],\"id\":1}",
        "{\"ping\":\"x\",\"id\":1}",
        "{\"subscribe\":{\"channel\":5},\"id\":1}",
        "{\"subscribe\":{\"channel\":\"a\",\"recover\":1},\"id\":1}",
        "{\"subscribe\":{\"channel\":\"a\",\"offset\":-1},\"id\":1}",
        "{\"subscribe\":{\"channel\":\"a\",\"offset\":18446744073709551616},\"id\":1}",
        "{\"subscribe\":{\"channel\":\"a\",\"epoch\":1},\"id\":1}",
        "{\"history\":{\"channel\":\"a\",\"limit\":2147483648},\"id\":1}",
        "{\"history\":{\"channel\":\"a\",\"since\":5},\"id\":1}",
        "{\"history\":{\"channel\":\"a\",\"since\":{\"offset\":\"5\"}},\"id\":1}",
        "{\"connect\":{\"token\":{}},\"id\":1}",
    };
    for (std::string_view f : frames) {
        EXPECT_EQ(error_of(f), ParseError::wrong_type) << f;
    }
}

TEST(CentrifugoCommandParser, IntegerBounds) {
    CommandParser parser(kMax);
    EXPECT_EQ(only_command(parser, "{\"ping\":{},\"id\":4294967295}").id, 4294967295u);
    Command c = only_command(
        parser, "{\"subscribe\":{\"channel\":\"a\",\"offset\":18446744073709551615},\"id\":1}");
    EXPECT_EQ(c.offset, 18446744073709551615u);
    c = only_command(parser, "{\"history\":{\"channel\":\"a\",\"limit\":-1},\"id\":1}");
    EXPECT_EQ(c.limit, -1);
    EXPECT_TRUE(c.has_limit);
}

TEST(CentrifugoCommandParser, EscapedStringsAreUnescaped) {
    CommandParser parser(kMax);
    Command c =
        only_command(parser, "{\"\\u0069d\":7,\"subscribe\":{\"channel\":\"n\\u0065ws\\/x\"}}");
    EXPECT_EQ(c.id, 7u);
    EXPECT_EQ(c.method, Method::subscribe);
    EXPECT_EQ(c.channel, "news/x");
}

TEST(CentrifugoCommandParser, NestingLimit) {
    auto nested = [](int depth) {
        std::string data(depth, '[');
        data.append(depth, ']');
        return "{\"publish\":{\"channel\":\"c\",\"data\":" + data + "},\"id\":1}";
    };
    // The command is depth 1, publish 2, data 3: kMaxJsonDepth - 2 levels fit.
    CommandParser parser(kMax);
    std::string fits = nested(kMaxJsonDepth - 2);
    EXPECT_EQ(only_command(parser, fits).data.size(), 2u * (kMaxJsonDepth - 2));
    EXPECT_EQ(error_of(nested(kMaxJsonDepth - 1)), ParseError::too_deep);
    EXPECT_EQ(error_of(nested(10000)), ParseError::too_deep);
    // Deep nesting in a field nobody reads is refused too.
    std::string unknown = "{\"id\":1,\"ping\":{},\"x\":" + std::string(200, '{');
    EXPECT_NE(error_of(unknown), ParseError::none);
}

TEST(CentrifugoCommandParser, TooLarge) {
    CommandParser parser(64);
    std::string big =
        "{\"publish\":{\"channel\":\"c\",\"data\":\"" + std::string(100, 'a') + "\"},\"id\":1}";
    Parsed p = parse_copied(parser, big);
    EXPECT_TRUE(p.bad);
    EXPECT_EQ(p.error, ParseError::too_large);
    // The limit is per command, not per frame.
    std::string two = "{\"ping\":{},\"id\":1}\n{\"ping\":{},\"id\":2}";
    p = parse_copied(parser, two);
    EXPECT_FALSE(p.bad);
    EXPECT_EQ(p.commands.size(), 2u);
}

TEST(CentrifugoCommandParser, GrowsForALargeCommand) {
    CommandParser parser(kMax);
    std::string data = "\"" + std::string(300000, 'z') + "\"";
    std::string frame = "{\"publish\":{\"channel\":\"c\",\"data\":" + data + "},\"id\":1}";
    test::GuardedBuffer guarded(frame);
    Command c = only_command(parser, std::string_view(guarded.chars(), guarded.size()));
    EXPECT_EQ(c.data, data);
    // And parses small ones after it.
    EXPECT_EQ(only_command(parser, kSdkPong).method, Method::pong);
}

TEST(CentrifugoCommandParser, ParseErrorTextsAreDistinct) {
    std::vector<std::string_view> seen;
    for (int e = 0; e <= static_cast<int>(ParseError::missing_token); ++e) {
        std::string_view t = parse_error_text(static_cast<ParseError>(e));
        EXPECT_FALSE(t.empty());
        for (std::string_view s : seen)
            EXPECT_NE(s, t);
        seen.push_back(t);
    }
}

}  // namespace
}  // namespace wsgate::proto::centrifugo
