// The gateway's plain-HTTP endpoints, called directly: the bytes each request
// gets queued, for echo mode (serve_http) and pub/sub mode (serve_pubsub_http).
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "gateway/demo_page.hpp"
#include "gateway/http_endpoints.hpp"
#include "gateway/pubsub_page.hpp"
#include "io/out_queue.hpp"
#include "proto/http_request.hpp"
#include "ws/outbound.hpp"

namespace {

using wsgate::gateway::kDemoPage;
using wsgate::gateway::kPubsubPage;

using Serve = void (*)(const wsgate::proto::HttpRequest&, bool, wsgate::ws::Outbound&);

// The whole response `serve` queues for `method target` (HTTP/1.1).
std::string respond(Serve serve, std::string_view method, std::string_view target,
                    bool keep_alive = true) {
    std::string head =
        std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    wsgate::proto::HttpRequest request;
    auto parsed = wsgate::proto::parse_http_request(head.data(), head.size(), 0, request);
    EXPECT_EQ(parsed.status, wsgate::proto::ParseStatus::complete);
    wsgate::io::ChunkPool pool;
    wsgate::io::OutQueue queue;
    bool in_message = false;
    wsgate::ws::Outbound out(queue, pool, in_message);
    serve(request, keep_alive, out);
    std::string bytes;
    iovec iov[64];
    size_t n = queue.gather(iov, 64);
    for (size_t i = 0; i < n; ++i)
        bytes.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
    EXPECT_EQ(bytes.size(), queue.size()) << "more than 64 chunks queued";
    queue.clear(pool);
    return bytes;
}

struct Response {
    std::string status_line, head, body;
};

Response split(const std::string& bytes) {
    Response r;
    size_t end = bytes.find("\r\n\r\n");
    EXPECT_NE(end, std::string::npos) << bytes;
    if (end == std::string::npos) return r;
    r.head = bytes.substr(0, end + 4);
    r.status_line = bytes.substr(0, bytes.find("\r\n"));
    r.body = bytes.substr(end + 4);
    return r;
}

bool has_line(const Response& r, std::string_view line) {
    return r.head.find("\r\n" + std::string(line) + "\r\n") != std::string::npos;
}

void expect_content_length(const Response& r, size_t n) {
    EXPECT_TRUE(has_line(r, "Content-Length: " + std::to_string(n))) << r.head;
}

TEST(PubsubHttp, RootServesTheChatPage) {
    for (std::string_view target : {"/", "/?channel=news"}) {
        Response r = split(respond(wsgate::gateway::serve_pubsub_http, "GET", target));
        EXPECT_EQ(r.status_line, "HTTP/1.1 200 OK");
        EXPECT_TRUE(has_line(r, "Content-Type: text/html; charset=utf-8")) << r.head;
        EXPECT_TRUE(has_line(r, "Connection: keep-alive")) << r.head;
        expect_content_length(r, kPubsubPage.size());
        EXPECT_EQ(r.body, kPubsubPage);
    }
}

TEST(PubsubHttp, ChatPageHasItsIdsAndNoOutsideResources) {
    for (std::string_view id :
         {"status", "status-detail", "client", "pings", "channel", "join", "sub-status",
          "sub-detail", "name", "text", "send", "error", "messages"}) {
        EXPECT_NE(kPubsubPage.find("id=\"" + std::string(id) + "\""), std::string_view::npos) << id;
    }
    EXPECT_NE(kPubsubPage.find("'/connection/websocket'"), std::string_view::npos);
    // Offline: nothing is loaded from elsewhere (no SDK from a CDN).
    EXPECT_EQ(kPubsubPage.find("src="), std::string_view::npos);
    EXPECT_EQ(kPubsubPage.find("http://"), std::string_view::npos);
    EXPECT_EQ(kPubsubPage.find("https://"), std::string_view::npos);
}

TEST(PubsubHttp, HeadGetsTheHeadOnly) {
    std::string bytes = respond(wsgate::gateway::serve_pubsub_http, "HEAD", "/");
    Response r = split(bytes);
    EXPECT_EQ(r.status_line, "HTTP/1.1 200 OK");
    expect_content_length(r, kPubsubPage.size());  // RFC 9110 §8.6: what GET would get
    EXPECT_EQ(r.body, "");
}

TEST(PubsubHttp, Healthz) {
    Response r = split(respond(wsgate::gateway::serve_pubsub_http, "GET", "/healthz"));
    EXPECT_EQ(r.status_line, "HTTP/1.1 200 OK");
    EXPECT_TRUE(has_line(r, "Content-Type: text/plain")) << r.head;
    EXPECT_EQ(r.body, "ok\n");
    r = split(respond(wsgate::gateway::serve_pubsub_http, "HEAD", "/healthz"));
    expect_content_length(r, 3);
    EXPECT_EQ(r.body, "");
}

TEST(PubsubHttp, UnknownPathIs404) {
    for (std::string_view target : {"/index.html", "/chat", "/healthz/", "/connection"}) {
        Response r = split(respond(wsgate::gateway::serve_pubsub_http, "GET", target));
        EXPECT_EQ(r.status_line, "HTTP/1.1 404 Not Found") << target;
        EXPECT_EQ(r.body, "not found\n");
    }
    Response r = split(respond(wsgate::gateway::serve_pubsub_http, "HEAD", "/nope"));
    EXPECT_EQ(r.status_line, "HTTP/1.1 404 Not Found");
    expect_content_length(r, 10);
    EXPECT_EQ(r.body, "");
}

TEST(PubsubHttp, OtherMethodsAre405WithAllow) {
    for (std::string_view method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
        for (std::string_view target : {"/", "/healthz"}) {
            Response r = split(respond(wsgate::gateway::serve_pubsub_http, method, target));
            EXPECT_EQ(r.status_line, "HTTP/1.1 405 Method Not Allowed") << method << target;
            EXPECT_TRUE(has_line(r, "Allow: GET, HEAD")) << r.head;
            expect_content_length(r, r.body.size());
        }
    }
}

TEST(PubsubHttp, PlainRequestToClientEndpointIs426) {
    for (bool keep_alive : {true, false}) {
        Response r = split(respond(wsgate::gateway::serve_pubsub_http, "GET",
                                   "/connection/websocket", keep_alive));
        EXPECT_EQ(r.status_line, "HTTP/1.1 426 Upgrade Required");
        EXPECT_TRUE(has_line(r, "Upgrade: websocket")) << r.head;
        EXPECT_TRUE(has_line(r, "Sec-WebSocket-Version: 13")) << r.head;
        EXPECT_TRUE(has_line(
            r, keep_alive ? "Connection: Upgrade, keep-alive" : "Connection: Upgrade, close"))
            << r.head;
        EXPECT_FALSE(r.body.empty());
        expect_content_length(r, r.body.size());
    }
    std::string head_only =
        respond(wsgate::gateway::serve_pubsub_http, "HEAD", "/connection/websocket");
    Response r = split(head_only);
    EXPECT_EQ(r.status_line, "HTTP/1.1 426 Upgrade Required");
    EXPECT_EQ(r.body, "");
    EXPECT_FALSE(has_line(r, "Content-Length: 0")) << "HEAD states the GET body's length";
}

TEST(PubsubHttp, ConnectionCloseIsKept) {
    Response r = split(respond(wsgate::gateway::serve_pubsub_http, "GET", "/", false));
    EXPECT_TRUE(has_line(r, "Connection: close")) << r.head;
    EXPECT_EQ(r.body, kPubsubPage);
}

// Echo mode is unchanged: its own page at /, no special client endpoint.
TEST(EchoHttp, RootServesTheEchoPage) {
    Response r = split(respond(wsgate::gateway::serve_http, "GET", "/"));
    EXPECT_EQ(r.status_line, "HTTP/1.1 200 OK");
    expect_content_length(r, kDemoPage.size());
    EXPECT_EQ(r.body, kDemoPage);
    EXPECT_NE(kDemoPage, kPubsubPage);
    r = split(respond(wsgate::gateway::serve_http, "GET", "/connection/websocket"));
    EXPECT_EQ(r.status_line, "HTTP/1.1 404 Not Found");
    r = split(respond(wsgate::gateway::serve_http, "POST", "/healthz"));
    EXPECT_EQ(r.status_line, "HTTP/1.1 405 Method Not Allowed");
    EXPECT_TRUE(has_line(r, "Allow: GET, HEAD")) << r.head;
}

}  // namespace
