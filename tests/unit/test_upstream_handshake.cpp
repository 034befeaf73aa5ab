// The WebSocket client side of the proxy's frames relay: our handshake key,
// the check of the upstream's answer (RFC 6455 §4.1), masked frame headers.
#include "proxy/upstream_handshake.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "proto/accept_key.hpp"

namespace wsgate::proxy {
namespace {

std::string accept_of(std::string_view key) {
    char out[proto::kAcceptKeyLength];
    proto::compute_accept_key(key, out);
    return std::string(out, sizeof(out));
}

constexpr std::string_view kKey = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455 §1.3

TEST(UpstreamHandshake, KeysAreBase64Of16RandomBytes) {
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        char key[kWebSocketKeyLength];
        ASSERT_TRUE(make_websocket_key(key));
        std::string k(key, sizeof(key));
        EXPECT_EQ(k.substr(22), "==");
        EXPECT_EQ(k.find_first_not_of(
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="),
                  std::string::npos);
        seen.insert(k);
    }
    EXPECT_EQ(seen.size(), 100u);
}

TEST(UpstreamHandshake, Valid101WithSubprotocolAndFramesAfterIt) {
    std::string head =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n"
        "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: " +
        accept_of(kKey) + "\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
    std::string bytes = head + "\x81\x02hi";
    UpstreamAnswer a = read_upstream_answer(bytes, kKey);
    EXPECT_EQ(a.kind, UpstreamAnswer::Kind::switching);
    EXPECT_EQ(a.head_length, head.size());
    EXPECT_EQ(a.protocol, "chat");
    EXPECT_EQ(accept_of(kKey), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");  // RFC 6455 §1.3
}

TEST(UpstreamHandshake, IncompleteUntilTheEmptyLine) {
    std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n";
    EXPECT_EQ(read_upstream_answer(head, kKey).kind, UpstreamAnswer::Kind::incomplete);
    EXPECT_EQ(read_upstream_answer(std::string(kMaxUpstreamHeadBytes, 'a'), kKey).kind,
              UpstreamAnswer::Kind::invalid);
}

TEST(UpstreamHandshake, OtherStatusIsRefused) {
    UpstreamAnswer a =
        read_upstream_answer("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", kKey);
    EXPECT_EQ(a.kind, UpstreamAnswer::Kind::refused);
    EXPECT_EQ(a.status, 403);
}

TEST(UpstreamHandshake, A101ThatIsNotOursIsInvalid) {
    const std::string ok = "Sec-WebSocket-Accept: " + accept_of(kKey) + "\r\n";
    auto kind = [](const std::string& head) { return read_upstream_answer(head, kKey).kind; };
    EXPECT_EQ(kind("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\n" +
                   std::string("Sec-WebSocket-Accept: ") + accept_of("other") + "\r\n\r\n"),
              UpstreamAnswer::Kind::invalid);
    EXPECT_EQ(kind("HTTP/1.1 101 OK\r\nConnection: upgrade\r\n" + ok + "\r\n"),
              UpstreamAnswer::Kind::invalid);
    EXPECT_EQ(kind("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n" + ok + "\r\n"),
              UpstreamAnswer::Kind::invalid);
    // RFC 6455 §4.1: an extension the client did not offer fails the connection.
    EXPECT_EQ(kind("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\n" + ok +
                   "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"),
              UpstreamAnswer::Kind::invalid);
    EXPECT_EQ(kind("SSH-2.0-OpenSSH\r\n\r\n"), UpstreamAnswer::Kind::invalid);
    EXPECT_EQ(
        kind("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\n" + ok + "\r\n"),
        UpstreamAnswer::Kind::switching);
}

TEST(UpstreamHandshake, MaskedFrameHeaders) {
    uint8_t h[kMaxClientFrameHeader];
    // RFC 6455 §5.7: masked "Hello" starts 0x81 0x85 37 fa 21 3d.
    ASSERT_EQ(write_masked_frame_header(h, 0x1, true, 5, 0x3d21fa37), 6u);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(h), 6), "\x81\x85\x37\xfa\x21\x3d");
    EXPECT_EQ(write_masked_frame_header(h, 0x2, false, 126, 1), 8u);
    EXPECT_EQ(h[0], 0x02);
    EXPECT_EQ(h[1], 0x80 | 126);
    EXPECT_EQ(write_masked_frame_header(h, 0x0, true, 1 << 20, 1), 14u);
    EXPECT_EQ(h[1], 0x80 | 127);
}

TEST(UpstreamHandshake, MaskKeysDiffer) {
    MaskKeySource keys;
    std::set<uint32_t> seen;
    for (int i = 0; i < 1000; ++i)
        seen.insert(keys.next());
    EXPECT_GT(seen.size(), 990u);
}

}  // namespace
}  // namespace wsgate::proxy
