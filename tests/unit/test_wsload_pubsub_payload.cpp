// wsload pubsub's publications and commands: the data object at exact sizes and
// back, and the commands as the server's own parser (proto/centrifugo) reads them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proto/centrifugo_command_parser.hpp"
#include "pubsub_payload.hpp"

using namespace wsgate::bench;
namespace cf = wsgate::proto::centrifugo;

TEST(WsloadPubsubPayload, DataHasExactSizeAndReadsBack) {
    for (const std::size_t size : {std::size_t{100}, std::size_t{4096}, kMinPublicationData}) {
        const PublicationStamp stamp{4294967295u, 18446744073709551615ull, 18446744073709551615ull};
        std::string out = "prefix";
        append_publication_data(out, stamp, size);
        ASSERT_EQ(out.size(), 6 + size) << size;
        PublicationStamp back;
        std::size_t length = 0;
        ASSERT_TRUE(parse_publication_data(out.substr(6) + "}}\n", back, length));
        EXPECT_EQ(length, size);
        EXPECT_EQ(back.publisher, stamp.publisher);
        EXPECT_EQ(back.sequence, stamp.sequence);
        EXPECT_EQ(back.sent_ns, stamp.sent_ns);
    }
}

TEST(WsloadPubsubPayload, SmallSizesAreRaisedToTheMinimum) {
    std::string out;
    append_publication_data(out, {1, 2, 3}, 10);
    EXPECT_EQ(out.size(), kMinPublicationData);
    EXPECT_TRUE(out.starts_with("{\"p\":1,\"s\":2,\"t\":3,\"x\":\"x"));
    EXPECT_TRUE(out.ends_with("x\"}"));
}

TEST(WsloadPubsubPayload, ParseRefusesAnythingElse) {
    PublicationStamp s;
    std::size_t n = 0;
    std::string good;
    append_publication_data(good, {1, 2, 3}, 100);
    for (std::size_t cut = 0; cut < good.size(); ++cut)
        EXPECT_FALSE(parse_publication_data(good.substr(0, cut), s, n)) << cut;
    EXPECT_FALSE(parse_publication_data("{\"p\":1,\"s\":2,\"t\":3,\"y\":\"\"}", s, n));
    EXPECT_FALSE(parse_publication_data("{\"p\":-1,\"s\":2,\"t\":3,\"x\":\"\"}", s, n));
    EXPECT_FALSE(parse_publication_data("{\"p\":4294967296,\"s\":2,\"t\":3,\"x\":\"\"}", s, n));
    EXPECT_FALSE(parse_publication_data("{\"s\":2,\"p\":1,\"t\":3,\"x\":\"\"}", s, n));
    EXPECT_FALSE(parse_publication_data("{\"p\":1,\"s\":2,\"t\":3,\"x\":\"\"]", s, n));
}

TEST(WsloadPubsubPayload, ChannelNames) {
    std::uint32_t k = 0;
    EXPECT_EQ(channel_name(0), "bench.0");
    ASSERT_TRUE(parse_channel_index(channel_name(999), k));
    EXPECT_EQ(k, 999u);
    EXPECT_FALSE(parse_channel_index("bench.", k));
    EXPECT_FALSE(parse_channel_index("bench.1x", k));
    EXPECT_FALSE(parse_channel_index("bench.-1", k));
    EXPECT_FALSE(parse_channel_index("chat.1", k));
    EXPECT_FALSE(parse_channel_index("bench.4294967296", k));
}

TEST(WsloadPubsubPayload, PublishCommandIsWhatTheServerParses) {
    std::string cmd;
    append_publish_command(cmd, 7, "bench.3", {2, 9, 12345}, 200);
    cf::CommandParser parser(1 << 16);
    parser.start_copied(cmd);
    cf::Command c;
    ASSERT_EQ(parser.next(c), cf::ParseStatus::command);
    EXPECT_EQ(c.method, cf::Method::publish);
    EXPECT_EQ(c.id, 7u);
    EXPECT_EQ(c.channel, "bench.3");
    EXPECT_EQ(c.data.size(), 200u);
    PublicationStamp s;
    std::size_t n = 0;
    ASSERT_TRUE(parse_publication_data(c.data, s, n));
    EXPECT_EQ(n, 200u);
    EXPECT_EQ(s.sequence, 9u);
    EXPECT_EQ(parser.next(c), cf::ParseStatus::end_of_frame);
}

TEST(WsloadPubsubPayload, HelloBatchesConnectAndSubscribes) {
    const std::uint32_t channels[] = {5, 6, 0};
    const std::string hello = subscriber_hello(channels, 3);
    cf::CommandParser parser(1 << 16);
    parser.start_copied(hello);
    cf::Command c;
    ASSERT_EQ(parser.next(c), cf::ParseStatus::command);
    EXPECT_EQ(c.method, cf::Method::connect);
    EXPECT_EQ(c.id, 1u);
    const char* names[] = {"bench.5", "bench.6", "bench.0"};
    for (std::uint32_t j = 0; j < 3; ++j) {
        ASSERT_EQ(parser.next(c), cf::ParseStatus::command);
        EXPECT_EQ(c.method, cf::Method::subscribe);
        EXPECT_EQ(c.id, j + 2);
        EXPECT_EQ(c.channel, names[j]);
    }
    EXPECT_EQ(parser.next(c), cf::ParseStatus::end_of_frame);
    EXPECT_EQ(subscriber_hello(nullptr, 0), "{\"id\":1,\"connect\":{}}");
}

TEST(WsloadPubsubPayload, ApiRequestContentLengthMatchesBody) {
    std::string req;
    append_api_publish_request(req, "127.0.0.1:8080", "secret", "bench.12", {1, 1, 1}, 4096);
    const std::size_t head_end = req.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos);
    const std::string head = req.substr(0, head_end);
    const std::string body = req.substr(head_end + 4);
    EXPECT_TRUE(head.starts_with("POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
    EXPECT_NE(head.find("\r\nX-API-Key: secret"), std::string::npos);
    EXPECT_NE(head.find("\r\nContent-Length: " + std::to_string(body.size())), std::string::npos);
    EXPECT_TRUE(body.starts_with("{\"channel\":\"bench.12\",\"data\":{\"p\":1,"));
    EXPECT_TRUE(body.ends_with("\"}}"));
    EXPECT_EQ(body.size(), std::string("{\"channel\":\"bench.12\",\"data\":}").size() + 4096);
}
