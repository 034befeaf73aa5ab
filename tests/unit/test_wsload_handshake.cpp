// wsload's client handshake: the request it sends and its check of the 101.
#include <gtest/gtest.h>

#include <string>

#include "client_codec.hpp"

using namespace wsgate::bench;

namespace {

std::string header_value(const std::string& request, const std::string& name) {
    const std::size_t at = request.find("\r\n" + name + ": ");
    if (at == std::string::npos) return {};
    const std::size_t start = at + name.size() + 4;
    return request.substr(start, request.find("\r\n", start) - start);
}

std::string response_with(const std::string& accept, const std::string& extra = {}) {
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " +
           accept + "\r\n" + extra + "\r\n";
}

}  // namespace

TEST(WsloadHandshake, AcceptKeyOfRfcExample) {
    // RFC 6455 §1.3's worked example.
    EXPECT_EQ(accept_for_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsloadHandshake, RequestCarriesFreshKeyAndOptionalOffer) {
    std::string accept1, accept2;
    const std::string r1 = make_upgrade_request("127.0.0.1:9", "/p?q", accept1);
    const std::string r2 = make_upgrade_request("127.0.0.1:9", "/", accept2,
                                                "permessage-deflate; client_max_window_bits");
    EXPECT_TRUE(r1.starts_with("GET /p?q HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"));
    EXPECT_TRUE(r1.ends_with("\r\n\r\n"));
    const std::string key1 = header_value(r1, "Sec-WebSocket-Key");
    EXPECT_EQ(key1.size(), 24u);  // base64 of 16 bytes
    EXPECT_EQ(accept1, accept_for_key(key1));
    EXPECT_NE(key1, header_value(r2, "Sec-WebSocket-Key"));
    EXPECT_EQ(header_value(r1, "Sec-WebSocket-Extensions"), "");
    EXPECT_EQ(header_value(r2, "Sec-WebSocket-Extensions"),
              "permessage-deflate; client_max_window_bits");
    EXPECT_EQ(header_value(r2, "Sec-WebSocket-Version"), "13");
}

TEST(WsloadHandshake, GoodResponseAtEveryPrefix) {
    const std::string accept = accept_for_key("dGhlIHNhbXBsZSBub25jZQ==");
    const std::string full = response_with(accept) + "\x81\x02hi";  // a frame right behind
    const std::size_t head = full.size() - 4;
    for (std::size_t n = 0; n < head; ++n) {
        std::size_t end = 0;
        ASSERT_EQ(check_upgrade_response(full.substr(0, n), accept, end),
                  HandshakeResult::kIncomplete)
            << n;
    }
    std::size_t end = 0;
    std::string ext = "junk";
    EXPECT_EQ(check_upgrade_response(full, accept, end, &ext), HandshakeResult::kOk);
    EXPECT_EQ(end, head);
    EXPECT_EQ(ext, "");
}

TEST(WsloadHandshake, HeaderNamesAndTokensCaseInsensitive) {
    const std::string accept = accept_for_key("AAAAAAAAAAAAAAAAAAAAAA==");
    const std::string r =
        "HTTP/1.1 101\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, upgrade\r\n"
        "sec-websocket-accept: " +
        accept + "\r\n\r\n";
    std::size_t end = 0;
    EXPECT_EQ(check_upgrade_response(r, accept, end), HandshakeResult::kOk);
}

TEST(WsloadHandshake, RejectsBadResponses) {
    const std::string accept = accept_for_key("dGhlIHNhbXBsZSBub25jZQ==");
    const std::string good = response_with(accept);
    struct Case {
        std::string response;
        HandshakeResult want;
    };
    const Case cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", HandshakeResult::kBadStatus},
        {"HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
         HandshakeResult::kBadStatus},
        {"HTTP/1.1 1010 x\r\n\r\n", HandshakeResult::kBadStatus},
        {response_with(accept_for_key("AAAAAAAAAAAAAAAAAAAAAA==")), HandshakeResult::kBadAccept},
        {"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
         HandshakeResult::kBadAccept},
        {"HTTP/1.1 101 x\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n",
         HandshakeResult::kBadHeaders},
        {"HTTP/1.1 101 x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
             accept + "\r\n\r\n",
         HandshakeResult::kBadHeaders},
        {"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: close\r\nSec-WebSocket-Accept: " +
             accept + "\r\n\r\n",
         HandshakeResult::kBadHeaders},
        {"HTTP/1.1 101 x\r\nUpgrade: websocket\r\nno colon here\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " +
             accept + "\r\n\r\n",
         HandshakeResult::kBadHeaders},
    };
    for (const auto& c : cases) {
        std::size_t end = 0;
        EXPECT_EQ(check_upgrade_response(c.response, accept, end), c.want) << c.response;
    }
    std::size_t end = 0;
    EXPECT_EQ(check_upgrade_response(good, accept, end), HandshakeResult::kOk);
}

TEST(WsloadHandshake, ExtensionLinesJoined) {
    const std::string accept = accept_for_key("dGhlIHNhbXBsZSBub25jZQ==");
    const std::string r = response_with(accept,
                                        "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                                        "sec-websocket-extensions:  x-other; a=1 \r\n");
    std::size_t end = 0;
    std::string ext;
    ASSERT_EQ(check_upgrade_response(r, accept, end, &ext), HandshakeResult::kOk);
    EXPECT_EQ(ext, "permessage-deflate, x-other; a=1");
}
