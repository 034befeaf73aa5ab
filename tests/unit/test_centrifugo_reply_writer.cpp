#include "proto/centrifugo_reply_writer.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

#include "proto/centrifugo_command_parser.hpp"

namespace wsgate::proto::centrifugo {
namespace {

// Every reply must be one line of valid JSON: the SDK splits a message on
// '\n' and JSON.parse()s each line.
void expect_json_line(std::string_view text) {
    EXPECT_EQ(text.find('\n'), std::string_view::npos) << text;
    simdjson::dom::parser parser;
    simdjson::dom::element e;
    simdjson::padded_string padded(text);
    EXPECT_EQ(parser.parse(padded).get(e), simdjson::SUCCESS) << text;
}

template <typename Write>
std::string written(Write write, size_t capacity = 4096) {
    std::vector<char> buffer(capacity);
    JsonOut out(buffer);
    write(out);
    EXPECT_TRUE(out.ok());
    return std::string(out.view());
}

TEST(CentrifugoReplyWriter, ErrorReplies) {
    EXPECT_EQ(written([](JsonOut& o) { write_error_reply(o, 2, ErrorCode::permission_denied); }),
              R"({"id":2,"error":{"code":103,"message":"permission denied"}})");
    EXPECT_EQ(
        written([](JsonOut& o) { write_error_reply(o, 7, ErrorCode::internal); }),
        R"({"id":7,"error":{"code":100,"message":"internal server error","temporary":true}})");
    EXPECT_EQ(written([](JsonOut& o) { write_error_reply(o, 1, ErrorCode::token_expired); }),
              R"({"id":1,"error":{"code":109,"message":"token expired"}})");
    EXPECT_EQ(written([](JsonOut& o) { write_error_reply(o, 9, ErrorCode::too_many_requests); }),
              R"({"id":9,"error":{"code":111,"message":"too many requests","temporary":true}})");
}

TEST(CentrifugoReplyWriter, EmptyReplies) {
    EXPECT_EQ(written([](JsonOut& o) { write_empty_reply(o, 8, Method::unsubscribe); }),
              R"({"id":8,"unsubscribe":{}})");
    EXPECT_EQ(written([](JsonOut& o) { write_empty_reply(o, 3, Method::publish); }),
              R"({"id":3,"publish":{}})");
    EXPECT_EQ(written([](JsonOut& o) { write_empty_reply(o, 4294967295u, Method::ping); }),
              R"({"id":4294967295,"ping":{}})");
}

TEST(CentrifugoReplyWriter, ConnectReply) {
    ConnectResult r;
    r.client = "c-1";
    r.version = "0.1.0";
    r.ping_seconds = 25;
    r.pong = true;
    EXPECT_EQ(written([&](JsonOut& o) { write_connect_reply(o, 1, r); }),
              R"({"id":1,"connect":{"client":"c-1","version":"0.1.0","ping":25,"pong":true}})");
    r.ttl_seconds = 3600;
    r.data = R"({"motd":"hi"})";
    std::string s = written([&](JsonOut& o) { write_connect_reply(o, 1, r); });
    EXPECT_EQ(s, R"({"id":1,"connect":{"client":"c-1","version":"0.1.0","expires":true,"ttl":3600,)"
                 R"("data":{"motd":"hi"},"ping":25,"pong":true}})");
    expect_json_line(s);
}

TEST(CentrifugoReplyWriter, RefreshAndPresenceStats) {
    EXPECT_EQ(written([](JsonOut& o) { write_refresh_reply(o, 5, "c", "v", 60); }),
              R"({"id":5,"refresh":{"client":"c","version":"v","expires":true,"ttl":60}})");
    EXPECT_EQ(written([](JsonOut& o) { write_presence_stats_reply(o, 6, 3, 2); }),
              R"({"id":6,"presence_stats":{"num_clients":3,"num_users":2}})");
}

TEST(CentrifugoReplyWriter, PublicationPushEncodedOnceServesPushAndHistory) {
    ClientInfo info{"42", "c-9"};
    Publication pub{R"({"text":"hi"})", 17, &info};
    std::vector<char> buffer(publication_push_bound("news:sport", pub));
    JsonOut out(buffer);
    EncodedPublication e = write_publication_push(out, "news:sport", pub);
    ASSERT_TRUE(out.ok());
    std::string_view push = out.view().substr(e.begin, e.end - e.begin);
    EXPECT_EQ(push, R"({"push":{"channel":"news:sport","pub":{"data":{"text":"hi"},)"
                    R"("info":{"user":"42","client":"c-9"},"offset":17}}})");
    expect_json_line(push);
    std::string_view object = out.view().substr(e.object_begin, e.object_end - e.object_begin);
    EXPECT_EQ(object, R"({"data":{"text":"hi"},"info":{"user":"42","client":"c-9"},"offset":17})");

    // The same object bytes embedded in a history reply and a subscribe reply.
    std::string history = written([&](JsonOut& o) {
        begin_history_reply(o, 4);
        add_publication(o, object);
        add_publication(o, object);
        end_history_reply(o, "e1", 17);
    });
    EXPECT_EQ(history, std::string(R"({"id":4,"history":{"publications":[)") + std::string(object) +
                           "," + std::string(object) + R"(],"epoch":"e1","offset":17}})");
    expect_json_line(history);
}

TEST(CentrifugoReplyWriter, PublicationPushWithoutStream) {
    Publication pub{"[1,2]", 0, nullptr};
    std::string s = written([&](JsonOut& o) { write_publication_push(o, "chat", pub); });
    EXPECT_EQ(s, R"({"push":{"channel":"chat","pub":{"data":[1,2]}}})");
}

// Relayed data may hold line feeds between its tokens (pretty-printed JSON
// posted to the API): the push must stay one line, the same size, and
// carry the same value ("a\nb" inside a string is escaped, so untouched).
TEST(CentrifugoReplyWriter, LineFeedsBetweenTokensOfDataBecomeSpaces) {
    std::string data = "{\n  \"text\": \"a\\nb\",\n  \"n\": [1,\n2]\n}";
    Publication pub{data, 7, nullptr};
    std::string s = written([&](JsonOut& o) { write_publication_push(o, "chat", pub); });
    expect_json_line(s);
    EXPECT_EQ(
        s,
        R"({"push":{"channel":"chat","pub":{"data":{   "text": "a\nb",   "n": [1, 2] },"offset":7}}})");
    ConnectResult r;
    r.client = "c";
    r.data = "[1,\n2]";
    std::string c = written([&](JsonOut& o) { write_connect_reply(o, 1, r); });
    expect_json_line(c);
}

TEST(CentrifugoReplyWriter, PublicationPushAfterOtherReplies) {
    std::vector<char> buffer(256);
    JsonOut out(buffer);
    write_empty_reply(out, 1, Method::publish);
    append_separator(out);
    Publication pub{"1", 2, nullptr};
    EncodedPublication e = write_publication_push(out, "a", pub);
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(e.begin, std::string_view(R"({"id":1,"publish":{}})").size() + 1);
    EXPECT_EQ(out.view().substr(e.object_begin, e.object_end - e.object_begin),
              R"({"data":1,"offset":2})");
    EXPECT_EQ(e.end, out.size());
}

TEST(CentrifugoReplyWriter, SubscribeReplies) {
    SubscribeResult plain;
    EXPECT_EQ(written([&](JsonOut& o) {
                  begin_subscribe_reply(o, 2, plain);
                  end_subscribe_reply(o);
              }),
              R"({"id":2,"subscribe":{"publications":[]}})");

    SubscribeResult recovered;
    recovered.recoverable = true;
    recovered.positioned = true;
    recovered.epoch = "ab";
    recovered.offset = 5;
    recovered.was_recovering = true;
    recovered.recovered = true;
    std::string s = written([&](JsonOut& o) {
        begin_subscribe_reply(o, 2, recovered);
        add_publication(o, R"({"data":"x","offset":4})");
        add_publication(o, R"({"data":"y","offset":5})");
        end_subscribe_reply(o);
    });
    EXPECT_EQ(s, R"({"id":2,"subscribe":{"recoverable":true,"epoch":"ab","offset":5,)"
                 R"("positioned":true,"was_recovering":true,"recovered":true,"publications":[)"
                 R"({"data":"x","offset":4},{"data":"y","offset":5}]}})");
    expect_json_line(s);
}

TEST(CentrifugoReplyWriter, UnsubscribeAndDisconnectPushes) {
    EXPECT_EQ(
        written([](JsonOut& o) {
            write_unsubscribe_push(o, "news", UnsubscribeCode::insufficient_state);
        }),
        R"({"push":{"channel":"news","unsubscribe":{"code":2500,"reason":"insufficient state"}}})");
    EXPECT_EQ(written([](JsonOut& o) { write_disconnect_push(o, DisconnectCode::slow); }),
              R"({"push":{"disconnect":{"code":3008,"reason":"slow"}}})");
    EXPECT_EQ(written([](JsonOut& o) { write_disconnect_push(o, DisconnectCode::bad_request); }),
              R"({"push":{"disconnect":{"code":3501,"reason":"bad request"}}})");
}

TEST(CentrifugoReplyWriter, BatchSeparatedByNewlines) {
    std::string s = written([](JsonOut& o) {
        append_separator(o);  // nothing before: no separator
        write_empty_reply(o, 1, Method::publish);
        append_separator(o);
        o.raw(kPing);
    });
    EXPECT_EQ(s, "{\"id\":1,\"publish\":{}}\n{}");
}

TEST(CentrifugoReplyWriter, StringsAreEscaped) {
    ConnectResult r;
    r.client = std::string_view("q\"b\\n\x01\x1f\n\t\xc3\xa9", 11);
    std::string s = written([&](JsonOut& o) { write_connect_reply(o, 1, r); });
    EXPECT_EQ(s, R"({"id":1,"connect":{"client":"q\"b\\n\u0001\u001f\n\t)"
                 "\xc3\xa9"
                 R"(","version":""}})");
    expect_json_line(s);
}

// What the writers produce, the parser reads back (the same shapes a peer
// server would send): a published data value keeps its bytes end to end.
TEST(CentrifugoReplyWriter, DataRoundTripsThroughParserAndPush) {
    std::string command =
        R"({"publish":{"channel":"c","data":{"k" : [1, 2.50, "\u00e9"] }},"id":3})";
    CommandParser parser(1 << 16);
    parser.start_copied(command);
    Command c;
    ASSERT_EQ(parser.next(c), ParseStatus::command);
    Publication pub{c.data, 1, nullptr};
    std::string push = written([&](JsonOut& o) { write_publication_push(o, c.channel, pub); });
    EXPECT_EQ(push,
              R"({"push":{"channel":"c","pub":{"data":{"k" : [1, 2.50, "\u00e9"] },"offset":1}}})");
}

TEST(CentrifugoReplyWriter, OverflowStopsCleanly) {
    Publication pub{R"("0123456789")", 99, nullptr};
    size_t full = written([&](JsonOut& o) { write_publication_push(o, "chan", pub); }).size();
    EXPECT_LE(full, publication_push_bound("chan", pub));
    for (size_t cap = 0; cap < full; ++cap) {
        std::vector<char> buffer(cap + 8, '#');
        JsonOut out(std::span<char>(buffer.data(), cap));
        write_publication_push(out, "chan", pub);
        EXPECT_FALSE(out.ok()) << cap;
        EXPECT_LE(out.size(), cap);
        for (size_t i = cap; i < buffer.size(); ++i)
            ASSERT_EQ(buffer[i], '#') << cap;
    }
}

TEST(CentrifugoReplyWriter, BoundHoldsForEscapedChannels) {
    std::string channel(255, '\x01');
    std::string user(100, '"');
    std::string client(100, '\\');
    ClientInfo info{user, client};
    Publication pub{"{}", UINT64_MAX, &info};
    size_t bound = publication_push_bound(channel, pub);
    std::vector<char> buffer(bound);
    JsonOut out(buffer);
    write_publication_push(out, channel, pub);
    EXPECT_TRUE(out.ok());
    expect_json_line(out.view());
}

}  // namespace
}  // namespace wsgate::proto::centrifugo
