// Centrifugo's server HTTP API bodies (proto/centrifugo_api.hpp): requests
// of every method parsed from bytes that end at a guard page, `data` kept
// byte for byte, escaped strings unescaped, precise errors for what is not
// a request; and every result body, checked as exact text and as JSON.
#include "proto/centrifugo_api.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "guard_page.hpp"
#include "json_reference.hpp"
#include "proto/centrifugo_command_parser.hpp"
#include "proto/centrifugo_reply_writer.hpp"

namespace wsgate::proto::centrifugo {
namespace {

constexpr size_t kMax = 1 << 20;

// Parses `body` placed so that its last byte is followed by a PROT_NONE page.
ApiParseError parse(ApiParser& parser, ApiMethod method, std::string_view body, ApiRequest& out) {
    test::GuardedBuffer guarded(body);
    return parser.parse(method, std::string_view(guarded.chars(), body.size()), out);
}
ApiRequest parsed(ApiParser& parser, ApiMethod method, std::string_view body) {
    ApiRequest r;
    ApiParseError e = parse(parser, method, body, r);
    EXPECT_EQ(e, ApiParseError::none) << body << ": " << api_parse_error_text(e);
    return r;
}
ApiParseError error_of(ApiMethod method, std::string_view body) {
    ApiParser parser(kMax);
    ApiRequest r;
    return parse(parser, method, body, r);
}

template <class Write>
std::string written(Write&& write, size_t capacity = 4096) {
    std::vector<char> buffer(capacity);
    JsonOut out(buffer);
    write(out);
    EXPECT_TRUE(out.ok());
    std::string s(out.view());
    EXPECT_TRUE(test::JsonReference::valid(s)) << s;
    return s;
}

TEST(CentrifugoApi, MethodFromTarget) {
    EXPECT_EQ(api_method_of_target("/api/publish"), ApiMethod::publish);
    EXPECT_EQ(api_method_of_target("/api/broadcast"), ApiMethod::broadcast);
    EXPECT_EQ(api_method_of_target("/api/history"), ApiMethod::history);
    EXPECT_EQ(api_method_of_target("/api/presence_stats"), ApiMethod::presence_stats);
    EXPECT_EQ(api_method_of_target("/api/unsubscribe"), ApiMethod::unsubscribe);
    EXPECT_EQ(api_method_of_target("/api/disconnect"), ApiMethod::disconnect);
    EXPECT_EQ(api_method_of_target("/api/channels"), ApiMethod::channels);
    EXPECT_EQ(api_method_of_target("/api/info?x=1"), ApiMethod::info);
    EXPECT_EQ(api_method_of_target("/api/presence"), ApiMethod::unknown);  // not served
    EXPECT_EQ(api_method_of_target("/api/publish/"), ApiMethod::unknown);
    EXPECT_EQ(api_method_of_target("/api/"), ApiMethod::unknown);
    EXPECT_EQ(api_method_of_target("/api"), ApiMethod::unknown);
    EXPECT_EQ(api_method_of_target("/apix/publish"), ApiMethod::unknown);
    EXPECT_EQ(api_method_of_target("/API/publish"), ApiMethod::unknown);
    for (ApiMethod m :
         {ApiMethod::publish, ApiMethod::broadcast, ApiMethod::history, ApiMethod::presence_stats,
          ApiMethod::unsubscribe, ApiMethod::disconnect, ApiMethod::channels, ApiMethod::info}) {
        EXPECT_EQ(api_method_of_target("/api/" + std::string(api_method_name(m))), m);
    }
}

TEST(CentrifugoApi, PublishKeepsDataAsReceived) {
    ApiParser parser(kMax);
    // The curl example of centrifugal.dev's server API page, and data with
    // whitespace, escapes and a number no double holds: all relayed as sent.
    ApiRequest r = parsed(parser, ApiMethod::publish,
                          R"({"channel": "test", "data": {"value": "test_value"}})");
    EXPECT_EQ(r.method, ApiMethod::publish);
    EXPECT_EQ(r.channel, "test");
    EXPECT_EQ(r.data, R"({"value": "test_value"})");
    EXPECT_FALSE(r.skip_history);
    std::string data = "[ 1 ,\"\\u00e9\\n\", 123456789012345678901234567890, {\"a\" : null} ]";
    r = parsed(parser, ApiMethod::publish,
               "{\"data\" :  " + data + "  ,\n\"channel\":\"c\",\"skip_history\":true}");
    EXPECT_EQ(r.data, data);
    EXPECT_TRUE(r.skip_history);
    for (std::string scalar : {"\"text\"", "42", "-1.5e3", "true", "false"}) {
        r = parsed(parser, ApiMethod::publish, "{\"channel\":\"c\",\"data\":" + scalar + " }");
        EXPECT_EQ(r.data, scalar);
    }
    // Fields Centrifugo knows and wsgate does not use are ignored, checked as JSON.
    r = parsed(
        parser, ApiMethod::publish,
        R"({"channel":"c","data":1,"tags":{"k":"v"},"idempotency_key":"x","b64data":"AA=="})");
    EXPECT_EQ(r.data, "1");
}

TEST(CentrifugoApi, ChannelStringsAreUnescaped) {
    ApiParser parser(kMax);
    ApiRequest r = parsed(parser, ApiMethod::publish,
                          R"({"channel":"n\u0065ws\/sp\"ort","data":{}, "\u0063hannel2":1})");
    EXPECT_EQ(r.channel, "news/sp\"ort");
    r = parsed(parser, ApiMethod::unsubscribe, R"({"channel":"a\tb","user":"\u00e9"})");
    EXPECT_EQ(r.channel, "a\tb");
    EXPECT_EQ(r.user, "\xc3\xa9");
}

TEST(CentrifugoApi, Broadcast) {
    ApiParser parser(kMax);
    ApiRequest r = parsed(parser, ApiMethod::broadcast,
                          R"({"channels":["a","b\u0021","a"],"data":{"x":[1,2]}})");
    ASSERT_EQ(r.channels.size(), 3u);
    EXPECT_EQ(r.channels[0], "a");
    EXPECT_EQ(r.channels[1], "b!");
    EXPECT_EQ(r.channels[2], "a");
    EXPECT_EQ(r.data, R"({"x":[1,2]})");
    // The list is the parser's, reused: a smaller broadcast next sees only its own.
    r = parsed(parser, ApiMethod::broadcast, R"({"channels":["z"],"data":0})");
    ASSERT_EQ(r.channels.size(), 1u);
    EXPECT_EQ(r.channels[0], "z");
    EXPECT_EQ(error_of(ApiMethod::broadcast, R"({"channels":[],"data":1})"),
              ApiParseError::missing_channels);
    EXPECT_EQ(error_of(ApiMethod::broadcast, R"({"data":1})"), ApiParseError::missing_channels);
    EXPECT_EQ(error_of(ApiMethod::broadcast, R"({"channels":["a"]})"), ApiParseError::missing_data);
    EXPECT_EQ(error_of(ApiMethod::broadcast, R"({"channels":"a","data":1})"),
              ApiParseError::wrong_type);
    EXPECT_EQ(error_of(ApiMethod::broadcast, R"({"channels":["a",2],"data":1})"),
              ApiParseError::wrong_type);
    EXPECT_EQ(error_of(ApiMethod::broadcast, R"({"channels":["a",2,],"data":1})"),
              ApiParseError::malformed_json);
}

TEST(CentrifugoApi, HistoryPresenceChannelsInfo) {
    ApiParser parser(kMax);
    ApiRequest r =
        parsed(parser, ApiMethod::history,
               R"({"channel":"c","limit":10,"since":{"offset":3,"epoch":"e1"},"reverse":true})");
    EXPECT_EQ(r.channel, "c");
    EXPECT_TRUE(r.has_limit);
    EXPECT_EQ(r.limit, 10);
    EXPECT_TRUE(r.has_since);
    EXPECT_EQ(r.since_offset, 3u);
    EXPECT_EQ(r.since_epoch, "e1");
    EXPECT_TRUE(r.reverse);
    r = parsed(parser, ApiMethod::history, R"({"channel":"c","limit":-1,"since":null})");
    EXPECT_EQ(r.limit, -1);  // Centrifugo: -1 = as many as the server allows
    EXPECT_FALSE(r.has_since);
    r = parsed(parser, ApiMethod::history, R"({"channel":"c"})");
    EXPECT_FALSE(r.has_limit);
    EXPECT_EQ(r.limit, 0);
    EXPECT_EQ(error_of(ApiMethod::history, R"({"channel":"c","limit":2147483648})"),
              ApiParseError::wrong_type);
    EXPECT_EQ(error_of(ApiMethod::history, R"({"channel":"c","limit":1.5})"),
              ApiParseError::wrong_type);
    EXPECT_EQ(error_of(ApiMethod::history, R"({"channel":"c","since":{"offset":-1}})"),
              ApiParseError::wrong_type);
    EXPECT_EQ(error_of(ApiMethod::history, R"({"channel":"c","since":[]})"),
              ApiParseError::wrong_type);
    EXPECT_EQ(error_of(ApiMethod::history, R"({"limit":1})"), ApiParseError::missing_channel);

    r = parsed(parser, ApiMethod::presence_stats, R"({"channel":"room"})");
    EXPECT_EQ(r.channel, "room");
    EXPECT_EQ(error_of(ApiMethod::presence_stats, R"({"channel":""})"),
              ApiParseError::missing_channel);

    r = parsed(parser, ApiMethod::channels, R"({"pattern":"chat:*"})");
    EXPECT_EQ(r.pattern, "chat:*");
    r = parsed(parser, ApiMethod::channels, "{}");
    EXPECT_EQ(r.pattern, "");
    // An empty body is `{}` (curl -X POST without data).
    r = parsed(parser, ApiMethod::info, "");
    EXPECT_EQ(r.method, ApiMethod::info);
    parsed(parser, ApiMethod::info, " \r\n");
    parsed(parser, ApiMethod::info, R"({"anything":[1,{"b":null}]})");
    EXPECT_EQ(error_of(ApiMethod::publish, ""), ApiParseError::missing_channel);
}

TEST(CentrifugoApi, UnsubscribeAndDisconnect) {
    ApiParser parser(kMax);
    ApiRequest r = parsed(parser, ApiMethod::unsubscribe,
                          R"({"channel":"c","user":"42","client":"abc","session":"s"})");
    EXPECT_EQ(r.channel, "c");
    EXPECT_EQ(r.user, "42");
    EXPECT_EQ(r.client, "abc");
    EXPECT_EQ(error_of(ApiMethod::unsubscribe, R"({"channel":"c"})"), ApiParseError::missing_user);
    EXPECT_EQ(error_of(ApiMethod::unsubscribe, R"({"user":"u"})"), ApiParseError::missing_channel);

    r = parsed(parser, ApiMethod::disconnect,
               R"({"user":"42","disconnect":{"code":4500,"reason":"bye"},"whitelist":["x"]})");
    EXPECT_EQ(r.user, "42");
    EXPECT_TRUE(r.has_disconnect);
    EXPECT_EQ(r.disconnect_code, 4500u);
    EXPECT_EQ(r.disconnect_reason, "bye");
    r = parsed(parser, ApiMethod::disconnect, R"({"user":"42"})");
    EXPECT_FALSE(r.has_disconnect);
    EXPECT_EQ(error_of(ApiMethod::disconnect, R"({"client":"c"})"), ApiParseError::missing_user);
    EXPECT_EQ(error_of(ApiMethod::disconnect, R"({"user":42})"), ApiParseError::wrong_type);
    EXPECT_EQ(error_of(ApiMethod::disconnect, R"({"user":"u","disconnect":{"code":"x"}})"),
              ApiParseError::wrong_type);
}

TEST(CentrifugoApi, PreciseErrors) {
    const ApiMethod p = ApiMethod::publish;
    EXPECT_EQ(error_of(p, R"({"channel":"c","data":)"), ApiParseError::malformed_json);
    EXPECT_EQ(error_of(p, R"({"channel":"c","data":tru})"), ApiParseError::malformed_json);
    EXPECT_EQ(error_of(p, R"({"channel":"c","data":{"a":1,}})"), ApiParseError::malformed_json);
    EXPECT_EQ(error_of(p, R"({"channel":"c","data":1} x)"), ApiParseError::malformed_json);
    EXPECT_EQ(error_of(p, R"({"channel":"c","data":1}{})"), ApiParseError::malformed_json);
    EXPECT_EQ(error_of(p, R"({"channel":"c","data":"\x"})"), ApiParseError::malformed_json);
    EXPECT_EQ(error_of(p, "{\"channel\":\"c\",\"data\":\"\xff\"}"), ApiParseError::malformed_json);
    EXPECT_EQ(error_of(p, R"({"channel":"c","data":01})"), ApiParseError::malformed_json);
    // A later syntax error wins over an earlier wrong type: the verdict
    // does not depend on the order of the fields.
    EXPECT_EQ(error_of(p, R"({"channel":1,"data":[)"), ApiParseError::malformed_json);
    EXPECT_EQ(error_of(p, "[1,2]"), ApiParseError::not_an_object);
    EXPECT_EQ(error_of(p, "\"s\""), ApiParseError::not_an_object);
    EXPECT_EQ(error_of(p, "12"), ApiParseError::not_an_object);
    EXPECT_EQ(error_of(p, "null"), ApiParseError::not_an_object);
    EXPECT_EQ(error_of(p, "12 x"), ApiParseError::malformed_json);
    EXPECT_EQ(error_of(p, "nul"), ApiParseError::malformed_json);
    EXPECT_EQ(error_of(p, R"({"channel":7,"data":1})"), ApiParseError::wrong_type);
    EXPECT_EQ(error_of(p, R"({"channel":"c","data":1,"skip_history":"yes"})"),
              ApiParseError::wrong_type);
    EXPECT_EQ(error_of(p, R"({"channel":"c"})"), ApiParseError::missing_data);
    EXPECT_EQ(error_of(p, R"({"channel":"c"})"), ApiParseError::missing_data);
    EXPECT_EQ(error_of(p, R"({"channel":"c","data":null})"), ApiParseError::none);  // relayed
    EXPECT_EQ(error_of(p, R"({"channel":null,"data":1})"), ApiParseError::missing_channel);
    EXPECT_EQ(error_of(p, R"({"data":1})"), ApiParseError::missing_channel);
    EXPECT_EQ(error_of(ApiMethod::unknown, "{}"), ApiParseError::unknown_method);
}

TEST(CentrifugoApi, NestingAndSizeLimits) {
    auto nested = [](int depth) {
        return R"({"channel":"c","data":)" + std::string(depth, '[') + std::string(depth, ']') +
               "}";
    };
    // The body is depth 1, data 2: kMaxJsonDepth - 1 levels fit.
    ApiParser parser(kMax);
    EXPECT_EQ(parsed(parser, ApiMethod::publish, nested(kMaxJsonDepth - 1)).data.size(),
              2u * (kMaxJsonDepth - 1));
    EXPECT_EQ(error_of(ApiMethod::publish, nested(kMaxJsonDepth)), ApiParseError::too_deep);
    EXPECT_EQ(error_of(ApiMethod::publish, nested(10000)), ApiParseError::too_deep);

    ApiParser small(64);
    ApiRequest r;
    std::string big = R"({"channel":"c","data":")" + std::string(100, 'a') + "\"}";
    EXPECT_EQ(parse(small, ApiMethod::publish, big, r), ApiParseError::too_large);
    // Growing past the initial buffers for one large body, then back to small ones.
    std::string large = R"({"channel":"c","data":")" + std::string(300000, 'b') + "\"}";
    r = parsed(parser, ApiMethod::publish, large);
    EXPECT_EQ(r.data.size(), 300002u);
    r = parsed(parser, ApiMethod::publish, R"({"channel":"c","data":1})");
    EXPECT_EQ(r.data, "1");
}

TEST(CentrifugoApi, FailedParseLeavesNoHalfRequest) {
    ApiParser parser(kMax);
    ApiRequest r;
    EXPECT_EQ(parse(parser, ApiMethod::publish, R"({"channel":"c","data":1,"skip_history":3})", r),
              ApiParseError::wrong_type);
    EXPECT_EQ(r.method, ApiMethod::publish);
    EXPECT_TRUE(r.channel.empty());
    EXPECT_TRUE(r.data.empty());
}

TEST(CentrifugoApi, ErrorBodies) {
    EXPECT_EQ(written([](JsonOut& o) { write_api_error(o, ErrorCode::bad_request); }),
              kApiBadRequestBody);
    EXPECT_EQ(written([](JsonOut& o) { write_api_error(o, ErrorCode::not_available); }),
              R"({"error":{"code":108,"message":"not available"}})");
}

TEST(CentrifugoApi, ResultBodies) {
    EXPECT_EQ(written([](JsonOut& o) { write_api_empty_result(o); }), R"({"result":{}})");
    EXPECT_EQ(written([](JsonOut& o) { write_api_publish_result(o, 17, "ab\"c"); }),
              R"({"result":{"offset":17,"epoch":"ab\"c"}})");
    EXPECT_EQ(written([](JsonOut& o) { write_api_publish_result(o, 0, ""); }), R"({"result":{}})");
    EXPECT_EQ(written([](JsonOut& o) {
                  begin_api_broadcast_result(o);
                  add_api_broadcast_published(o, 1, "e");
                  add_api_broadcast_error(o, ErrorCode::bad_request);
                  add_api_broadcast_published(o, 9, "f");
                  end_api_broadcast_result(o);
              }),
              R"({"result":{"responses":[{"result":{"offset":1,"epoch":"e"}},)"
              R"({"error":{"code":107,"message":"bad request"}},)"
              R"({"result":{"offset":9,"epoch":"f"}}]}})");
    EXPECT_EQ(written([](JsonOut& o) {
                  begin_api_history_result(o);
                  add_publication(o, R"({"data":{"a":1},"offset":4})");
                  add_publication(o, R"({"data":"x","offset":5})");
                  end_api_history_result(o, 5, "E");
              }),
              R"({"result":{"publications":[{"data":{"a":1},"offset":4},)"
              R"({"data":"x","offset":5}],"offset":5,"epoch":"E"}})");
    EXPECT_EQ(written([](JsonOut& o) {
                  begin_api_history_result(o);
                  end_api_history_result(o, 0, "E");
              }),
              R"({"result":{"publications":[],"offset":0,"epoch":"E"}})");
    EXPECT_EQ(written([](JsonOut& o) { write_api_presence_stats_result(o, 0, 0); }),
              R"({"result":{"num_clients":0,"num_users":0}})");
    EXPECT_EQ(written([](JsonOut& o) { write_api_presence_stats_result(o, 3, 2); }),
              R"({"result":{"num_clients":3,"num_users":2}})");
    EXPECT_EQ(written([](JsonOut& o) {
                  begin_api_channels_result(o);
                  end_api_channels_result(o);
              }),
              R"({"result":{"channels":{}}})");
    EXPECT_EQ(
        written([](JsonOut& o) {
            begin_api_channels_result(o);
            add_api_channel(o, "a", 2);
            add_api_channel(o, "b\n", 4294967295u);
            end_api_channels_result(o);
        }),
        R"({"result":{"channels":{"a":{"num_clients":2},"b\n":{"num_clients":4294967295}}}})");
    ApiNodeInfo node{"uid-1", "host_8000", "wsgate 1.0", 5, 4, 3, 7, 60};
    EXPECT_EQ(written([&](JsonOut& o) { write_api_info_result(o, node); }),
              R"({"result":{"nodes":[{"uid":"uid-1","name":"host_8000","version":"wsgate 1.0",)"
              R"("num_clients":5,"num_users":4,"num_channels":3,"uptime":60,"num_subs":7}]}})");
}

TEST(CentrifugoApi, BoundsHoldTheLargestValues) {
    std::string nasty(100, '\x01');  // every byte escaped as \u0001
    ApiNodeInfo node{nasty,      nasty,      nasty,      UINT32_MAX,
                     UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX};
    std::vector<char> buffer(api_info_result_bound(node));
    JsonOut out(buffer);
    write_api_info_result(out, node);
    EXPECT_TRUE(out.ok());
    std::vector<char> b2(api_publish_result_bound(nasty));
    JsonOut o2(b2);
    write_api_publish_result(o2, UINT64_MAX, nasty);
    EXPECT_TRUE(o2.ok());
    std::vector<char> b3(api_channel_bound(nasty) + 1);  // +1: the opening '{' before it
    JsonOut o3(b3);
    o3.raw('{');
    add_api_channel(o3, nasty, UINT32_MAX);
    EXPECT_TRUE(o3.ok());
    add_api_channel(o3, "", 0);  // does not fit: the writer stops and says so
    EXPECT_FALSE(o3.ok());
}

}  // namespace
}  // namespace wsgate::proto::centrifugo
