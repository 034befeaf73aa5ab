// Plain HTTP requests with Content-Length bodies through the whole server
// loop, on both backends, driven turn by turn from the test thread: the app
// gets each body whole (in place or collected across receive buffers), the
// connection stays alive across requests with bodies, and framing the
// gateway does not accept gets its status and a close.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "loop_fixture.hpp"
#include "quiet_websocket_app.hpp"

namespace {

using wsgate::ws::LoopSettings;
using wsgate::ws::LoopShared;

// Answers every request with its body (200, Content-Length) and records it.
struct BodyEchoApp : wsgate::test::QuietWebSocketApp {
    std::vector<std::string> bodies;
    template <class Loop>
    wsgate::ws::HttpAnswer on_http_request(Loop&, wsgate::ws::ConnectionHandle,
                                           const wsgate::proto::HttpRequest&,
                                           std::span<const uint8_t> body, bool keep_alive,
                                           wsgate::ws::Outbound& out) {
        bodies.emplace_back(reinterpret_cast<const char*>(body.data()), body.size());
        std::string r = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\n" + (keep_alive ? "" : "Connection: close\r\n") + "\r\n" +
                        bodies.back();
        out.send_raw(r);
        return wsgate::ws::HttpAnswer::now;
    }
};

std::string post(const std::string& body, const std::string& extra = "") {
    return "POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}
std::string response(const std::string& body) {
    return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}
std::string pattern(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('a' + (i * 7) % 26);
    return s;
}

template <class B>
class HttpBodyTest : public wsgate::test::LoopFixture<B, BodyEchoApp> {
  protected:
    void configure(LoopSettings& s) override {
        s.backend.recv_buffer_size = 4096;  // a 1 MiB body spans 256 buffers
        s.max_request_bytes = 1024 * 1024;
        s.max_queued_bytes = 4 * 1024 * 1024;
    }
    // Expects an error status, then the server's FIN.
    void expect_refused(const std::string& request, const std::string& status) {
        int fd = this->connect_client();
        this->send_all(fd, request);
        bool eof = false;
        std::string r = this->receive(fd, 1 << 20, 3000, &eof);
        EXPECT_EQ(r.rfind("HTTP/1.1 " + status, 0), 0u) << r;
        EXPECT_TRUE(eof) << status;
        EXPECT_TRUE(this->app_.bodies.empty());
    }
};

TYPED_TEST_SUITE(HttpBodyTest, wsgate::test::LoopBackends);

TYPED_TEST(HttpBodyTest, KeepAliveAcrossRequestsWithBodies) {
    int fd = this->connect_client();
    std::string expect;
    for (int i = 0; i < 5; ++i) {
        std::string body = "{\"channel\":\"c\",\"data\":" + std::to_string(i) + "}";
        this->send_all(fd, post(body));
        expect += response(body);
        std::string got = this->receive(fd, response(body).size());
        EXPECT_EQ(got, response(body));
    }
    // A body-less request on the same connection still parses from the right byte.
    this->send_all(fd, "POST /x HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(this->receive(fd, response("").size()), response(""));
    ASSERT_EQ(this->app_.bodies.size(), 6u);
    EXPECT_EQ(this->loop_->connection_count(), 1u);
}

TYPED_TEST(HttpBodyTest, PipelinedRequestsWithBodiesAnsweredInOrder) {
    int fd = this->connect_client();
    std::string a = pattern(100), b = pattern(3000), c = pattern(1);
    this->send_all(fd, post(a) + post(b) + post(c));
    std::string expect = response(a) + response(b) + response(c);
    EXPECT_EQ(this->receive(fd, expect.size()), expect);
    EXPECT_EQ(this->app_.bodies, (std::vector<std::string>{a, b, c}));
}

TYPED_TEST(HttpBodyTest, BodyCutAtEveryByteIsCollected) {
    const std::string body = pattern(300);
    const std::string request = post(body);
    int fd = this->connect_client();
    // Every byte in its own segment: the head and the body cross receive
    // buffers at every possible point.
    for (char ch : request) {
        this->send_all(fd, std::string(1, ch));
        this->spin(1);
    }
    EXPECT_EQ(this->receive(fd, response(body).size()), response(body));
    ASSERT_EQ(this->app_.bodies.size(), 1u);
    EXPECT_EQ(this->app_.bodies[0], body);
    // And the connection is ready for the next request.
    this->send_all(fd, post("next"));
    EXPECT_EQ(this->receive(fd, response("next").size()), response("next"));
}

TYPED_TEST(HttpBodyTest, HeadAndBodySplitAtEachPoint) {
    const std::string body = pattern(50);
    const std::string request = post(body);
    for (size_t cut = 1; cut < request.size(); cut += 7) {
        int fd = this->connect_client();
        this->send_all(fd, request.substr(0, cut));
        this->spin(2);
        this->send_all(fd, request.substr(cut));
        EXPECT_EQ(this->receive(fd, response(body).size()), response(body)) << cut;
        close(fd);
        this->clients_.pop_back();
    }
}

TYPED_TEST(HttpBodyTest, BodyAtTheLimitIsAcceptedOneMoreIs413) {
    const std::string body = pattern(this->settings_.max_request_bytes);
    int fd = this->connect_client();
    this->send_all(fd, post(body));
    std::string got = this->receive(fd, response(body).size(), 20000);
    EXPECT_EQ(got.size(), response(body).size());
    EXPECT_TRUE(got == response(body));
    this->app_.bodies.clear();
    this->expect_refused(post(body + "x"), "413");
}

TYPED_TEST(HttpBodyTest, ChunkedIs411) {
    this->expect_refused(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "411");
}

TYPED_TEST(HttpBodyTest, AmbiguousFramingIs400) {
    this->expect_refused(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
        "hello",
        "400");
    this->expect_refused(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", "400");
    this->expect_refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nhello", "400");
}

TYPED_TEST(HttpBodyTest, ConnectionCloseAfterABodyClosesAfterTheResponse) {
    int fd = this->connect_client();
    this->send_all(fd, post("bye", "Connection: close\r\n"));
    bool eof = false;
    std::string got = this->receive(fd, 1 << 16, 3000, &eof);
    EXPECT_NE(got.find("Connection: close\r\n\r\nbye"), std::string::npos) << got;
    EXPECT_TRUE(eof);
}

}  // namespace
