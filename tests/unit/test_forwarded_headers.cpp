// The request head the proxy sends upstream: forwarding headers extended
// by one hop (RFC 7239, X-Forwarded-*), everything else kept in order.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>

#include "proto/http_request.hpp"
#include "proxy/forwarded_headers.hpp"

using wsgate::proxy::client_address_text;
using wsgate::proxy::forwarded_element;
using wsgate::proxy::forwarded_request_head;

namespace {

std::string rewrite(const std::string& head, std::string_view client) {
    wsgate::proto::HttpRequest request;
    auto r = wsgate::proto::parse_http_request(head.data(), head.size(), 0, request);
    EXPECT_EQ(r.status, wsgate::proto::ParseStatus::complete);
    return forwarded_request_head(request, client, "http");
}

const std::string kUpgrade =
    "GET /chat?room=1 HTTP/1.1\r\n"
    "Host: example.com:8080\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

}  // namespace

TEST(ForwardedHeaders, FirstHopAddsAllThree) {
    std::string out = rewrite(kUpgrade + "\r\n", "192.0.2.43");
    EXPECT_EQ(out,
              "GET /chat?room=1 HTTP/1.1\r\n"
              "Host: example.com:8080\r\n"
              "Upgrade: websocket\r\n"
              "Connection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              "Sec-WebSocket-Version: 13\r\n"
              "Sec-WebSocket-Protocol: chat, superchat\r\n"
              "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
              "X-Forwarded-For: 192.0.2.43\r\n"
              "X-Forwarded-Proto: http\r\n"
              "Forwarded: for=192.0.2.43;proto=http;host=\"example.com:8080\"\r\n"
              "\r\n");
}

TEST(ForwardedHeaders, LaterHopsAppend) {
    std::string out = rewrite(kUpgrade +
                                  "X-Forwarded-For: 203.0.113.7, 198.51.100.1\r\n"
                                  "x-forwarded-for: 198.51.100.2\r\n"
                                  "X-Forwarded-Proto: https\r\n"
                                  "Forwarded: for=203.0.113.7;proto=https\r\n"
                                  "Cookie: a=b\r\n\r\n",
                              "10.1.2.3");
    EXPECT_NE(out.find("X-Forwarded-For: 203.0.113.7, 198.51.100.1, 198.51.100.2, 10.1.2.3\r\n"),
              std::string::npos)
        << out;
    // This hop speaks plain HTTP to the client: its proto replaces the earlier one.
    EXPECT_NE(out.find("X-Forwarded-Proto: http\r\n"), std::string::npos);
    EXPECT_EQ(out.find("https\r\nX"), std::string::npos);
    EXPECT_NE(out.find("Forwarded: for=203.0.113.7;proto=https, "
                       "for=10.1.2.3;proto=http;host=\"example.com:8080\"\r\n"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("Cookie: a=b\r\n"), std::string::npos);
    // Each forwarding header exactly once.
    EXPECT_EQ(out.find("x-forwarded-for"), std::string::npos);
    EXPECT_EQ(out.find("X-Forwarded-For"), out.rfind("X-Forwarded-For"));
    EXPECT_EQ(out.find("X-Forwarded-Proto"), out.rfind("X-Forwarded-Proto"));
    EXPECT_TRUE(out.ends_with("\r\n\r\n"));
}

TEST(ForwardedHeaders, Ipv6NodeIsQuotedInBrackets) {
    EXPECT_EQ(forwarded_element("2001:db8:cafe::17", "http", "example.com"),
              "for=\"[2001:db8:cafe::17]\";proto=http;host=example.com");
    EXPECT_EQ(forwarded_element("", "http", ""), "for=unknown;proto=http");
    std::string out = rewrite(kUpgrade + "\r\n", "::1");
    EXPECT_NE(out.find("X-Forwarded-For: ::1\r\n"), std::string::npos);
    EXPECT_NE(out.find("Forwarded: for=\"[::1]\";proto=http"), std::string::npos);
}

TEST(ForwardedHeaders, HostIsQuotedWhenNotAToken) {
    EXPECT_EQ(forwarded_element("192.0.2.1", "http", "a\"b"),
              "for=192.0.2.1;proto=http;host=\"a\\\"b\"");
}

TEST(ForwardedHeaders, ClientAddressText) {
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.43", &v4.sin_addr);
    EXPECT_EQ(client_address_text(reinterpret_cast<sockaddr*>(&v4)), "192.0.2.43");
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr);
    EXPECT_EQ(client_address_text(reinterpret_cast<sockaddr*>(&v6)), "2001:db8::1");
}

TEST(ForwardedHeaders, KeepsHttp10RequestLine) {
    std::string out = rewrite("GET / HTTP/1.0\r\nHost: h\r\n\r\n", "127.0.0.1");
    EXPECT_TRUE(out.starts_with("GET / HTTP/1.0\r\nHost: h\r\n")) << out;
}
