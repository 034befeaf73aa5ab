// wsload pubsub's receive side: the server's replies and pushes as wsgate's own
// writers (proto/centrifugo_reply_writer) produce them, and whole text messages
// joined from frames split at every byte.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "centrifugo_client_reader.hpp"
#include "proto/centrifugo_reply_writer.hpp"
#include "proto/json_out.hpp"
#include "pubsub_payload.hpp"

using namespace wsgate::bench;
namespace cf = wsgate::proto::centrifugo;
using Kind = ServerLine::Kind;

namespace {

std::string push(std::string_view channel, std::string_view data, std::uint64_t offset,
                 const cf::ClientInfo* info = nullptr) {
    std::vector<char> buf(8192);
    wsgate::proto::JsonOut out(buf);
    cf::Publication pub;
    pub.data = data;
    pub.offset = offset;
    pub.info = info;
    cf::write_publication_push(out, channel, pub);
    EXPECT_TRUE(out.ok());
    return std::string(out.view());
}

template <class Write>
std::string written(Write write) {
    std::vector<char> buf(4096);
    wsgate::proto::JsonOut out(buf);
    write(out);
    EXPECT_TRUE(out.ok());
    return std::string(out.view());
}

std::string server_frame(std::uint8_t b0, std::string_view payload) {
    std::string f(1, static_cast<char>(b0));
    if (payload.size() < 126) {
        f += static_cast<char>(payload.size());
    } else {
        f += static_cast<char>(126);
        f += static_cast<char>(payload.size() >> 8);
        f += static_cast<char>(payload.size() & 0xFF);
    }
    return f + std::string(payload);
}

}  // namespace

TEST(WsloadCentrifugoReader, PublicationPushWithAndWithoutOffset) {
    std::string data;
    append_publication_data(data, {3, 17, 99}, 120);
    for (const std::uint64_t offset :
         {std::uint64_t{0}, std::uint64_t{5}, ~std::uint64_t{0} >> 1}) {
        const cf::ClientInfo info{"user-1", "client-1"};
        for (const cf::ClientInfo* with : {static_cast<const cf::ClientInfo*>(nullptr), &info}) {
            // classify_line's views point into the line: keep it alive.
            const std::string line = push("bench.12", data, offset, with);
            const ServerLine l = classify_line(line);
            ASSERT_EQ(l.kind, Kind::kPublication);
            EXPECT_EQ(l.channel, "bench.12");
            EXPECT_EQ(l.has_offset, offset != 0);
            if (offset) {
                EXPECT_EQ(l.offset, offset);
            }
            PublicationStamp s;
            std::size_t n = 0;
            ASSERT_TRUE(parse_publication_data(l.data, s, n));
            EXPECT_EQ(n, 120u);
            EXPECT_EQ(s.publisher, 3u);
            EXPECT_EQ(s.sequence, 17u);
        }
    }
}

TEST(WsloadCentrifugoReader, Replies) {
    ServerLine l = classify_line(written([](auto& out) {
        cf::ConnectResult r;
        r.client = "c";
        r.version = "v";
        r.ping_seconds = 25;
        r.pong = true;
        cf::write_connect_reply(out, 1, r);
    }));
    EXPECT_EQ(l.kind, Kind::kReply);
    EXPECT_EQ(l.id, 1u);
    l = classify_line(written([](auto& out) {
        cf::SubscribeResult r;
        r.recoverable = r.positioned = true;
        r.epoch = "e";
        r.offset = 41;
        cf::begin_subscribe_reply(out, 2, r);
        cf::end_subscribe_reply(out);
    }));
    EXPECT_EQ(l.kind, Kind::kReply);
    EXPECT_EQ(l.id, 2u);
    EXPECT_TRUE(l.has_offset);
    EXPECT_EQ(l.offset, 41u);
    l = classify_line(
        written([](auto& out) { cf::write_empty_reply(out, 9, cf::Method::publish); }));
    EXPECT_EQ(l.kind, Kind::kReply);
    EXPECT_EQ(l.id, 9u);
    EXPECT_FALSE(l.has_offset);
    l = classify_line(written(
        [](auto& out) { cf::write_error_reply(out, 3, cf::ErrorCode::permission_denied); }));
    EXPECT_EQ(l.kind, Kind::kErrorReply);
    EXPECT_EQ(l.id, 3u);
    EXPECT_EQ(l.error_code, 103u);
}

TEST(WsloadCentrifugoReader, PingAndOtherPushes) {
    EXPECT_EQ(classify_line("{}").kind, Kind::kPing);
    const std::string unsubscribe = written(
        [](auto& out) { cf::write_unsubscribe_push(out, "bench.1", cf::UnsubscribeCode{2500}); });
    const ServerLine u = classify_line(unsubscribe);
    EXPECT_EQ(u.kind, Kind::kUnsubscribePush);
    EXPECT_EQ(u.channel, "bench.1");
    EXPECT_EQ(classify_line(written([](auto& out) {
                  cf::write_disconnect_push(out, cf::DisconnectCode{3008});
              })).kind,
              Kind::kDisconnectPush);
    EXPECT_EQ(classify_line("{\"push\":{\"channel\":\"c\",\"join\":{}}}").kind, Kind::kOtherPush);
    EXPECT_EQ(classify_line("hello").kind, Kind::kMalformed);
    EXPECT_EQ(classify_line("{\"id\":0,\"publish\":{}}").kind, Kind::kMalformed);
    EXPECT_EQ(classify_line("{\"push\":{\"channel\":\"c\",\"pub\":{}}}").kind, Kind::kMalformed);
}

TEST(WsloadCentrifugoReader, LinesOfABatchedMessage) {
    std::vector<std::string> seen;
    for_each_line("{\"id\":1,\"connect\":{}}\n\n{}\n{\"id\":2,\"subscribe\":{}}\n",
                  [&](std::string_view l) { seen.emplace_back(l); });
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[1], "{}");
}

TEST(WsloadCentrifugoReader, MessagesJoinedFromAnySplit) {
    std::string data;
    append_publication_data(data, {0, 1, 2}, 300);
    const std::string a = push("bench.0", data, 7), b = "{}";
    // a whole message, a ping between the two fragments of another, a one-byte tail
    const std::string wire = server_frame(0x81, a) + server_frame(0x01, b.substr(0, 1)) +
                             server_frame(0x89, "hi") + server_frame(0x80, b.substr(1));
    for (std::size_t step = 1; step <= wire.size(); ++step) {
        ServerMessageReader reader(1 << 16);
        std::vector<std::string> texts, pings;
        for (std::size_t at = 0; at < wire.size(); at += step) {
            std::string_view piece = std::string_view(wire).substr(at, step);
            while (!piece.empty()) {
                std::size_t used = 0;
                const auto st = reader.next(
                    {reinterpret_cast<const std::uint8_t*>(piece.data()), piece.size()}, used);
                piece.remove_prefix(used);
                ASSERT_NE(st, ServerMessageReader::Status::kProtocol) << step;
                if (st == ServerMessageReader::Status::kText) texts.emplace_back(reader.message());
                if (st == ServerMessageReader::Status::kControl) {
                    EXPECT_EQ(reader.control_opcode(), kOpPing);
                    pings.push_back(reader.control_payload());
                }
                if (st == ServerMessageReader::Status::kNeedMore) break;
            }
        }
        ASSERT_EQ(texts.size(), 2u) << step;
        EXPECT_EQ(texts[0], a);
        EXPECT_EQ(texts[1], b);
        ASSERT_EQ(pings.size(), 1u);
        EXPECT_EQ(pings[0], "hi");
    }
}

TEST(WsloadCentrifugoReader, RefusesBinaryOversizeAndBadContinuation) {
    auto status = [](const std::string& wire, std::size_t limit) {
        ServerMessageReader reader(limit);
        std::size_t used = 0;
        return reader.next({reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size()}, used);
    };
    using S = ServerMessageReader::Status;
    EXPECT_EQ(status(server_frame(0x82, "{}"), 100), S::kProtocol);  // JSON protocol: text only
    EXPECT_EQ(status(server_frame(0x81, std::string(200, 'x')), 100), S::kProtocol);
    EXPECT_EQ(status(server_frame(0x80, "{}"), 100), S::kProtocol);  // continuation first
    EXPECT_EQ(status(server_frame(0x01, "{") + server_frame(0x81, "}"), 100), S::kProtocol);
    EXPECT_EQ(status(server_frame(0x81, "{}"), 100), S::kText);
}
