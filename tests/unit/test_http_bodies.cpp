// Plain HTTP requests with Content-Length bodies through the whole server
// loop, on both backends, driven turn by turn from the test thread: the app
// gets each body whole (in place or collected across receive buffers), the
// connection stays alive across requests with bodies, and framing the
// gateway does not accept gets its status and a close.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "io/epoll_backend.hpp"
#include "io/listener.hpp"
#include "io/ring_setup.hpp"
#include "io/uring_backend.hpp"
#include "ws/server_loop.hpp"

namespace {

using wsgate::ws::LoopSettings;
using wsgate::ws::LoopShared;
using wsgate::ws::ServerLoop;

// Answers every request with its body (200, Content-Length) and records it.
struct BodyEchoApp {
    std::vector<std::string> bodies;
    void on_message_piece(wsgate::ws::Outbound&, wsgate::proto::Opcode, std::span<const uint8_t>,
                          bool) {}
    void on_http_request(const wsgate::proto::HttpRequest&, std::span<const uint8_t> body,
                         bool keep_alive, wsgate::ws::Outbound& out) {
        bodies.emplace_back(reinterpret_cast<const char*>(body.data()), body.size());
        std::string r = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\n" + (keep_alive ? "" : "Connection: close\r\n") + "\r\n" +
                        bodies.back();
        out.send_raw(r);
    }
};

struct UseUring {
    template <class Owner>
    using Backend = wsgate::io::UringBackend<Owner>;
    static constexpr bool kUring = true;
};
struct UseEpoll {
    template <class Owner>
    using Backend = wsgate::io::EpollBackend<Owner>;
    static constexpr bool kUring = false;
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
class HttpBodyTest : public ::testing::Test {
  protected:
    using Loop = ServerLoop<B::template Backend, BodyEchoApp>;

    void SetUp() override {
        if (B::kUring) {
            int err = 0;
            if (!wsgate::io::probe_io_uring(&err)) GTEST_SKIP() << "io_uring unavailable";
        }
        settings_.backend.recv_buffer_count = 64;
        settings_.backend.recv_buffer_size = 4096;  // a 1 MiB body spans 256 buffers
        settings_.max_request_bytes = 1024 * 1024;
        settings_.max_queued_bytes = 4 * 1024 * 1024;
        wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        auto ep = wsgate::io::parse_endpoint("127.0.0.1:0");
        listener_ = wsgate::io::open_listener(*ep, 64);
        ASSERT_GE(listener_, 0);
        endpoint_ = wsgate::io::local_endpoint(listener_);
        loop_.emplace(settings_, shared_, app_, wake_);
        ASSERT_EQ(loop_->init(std::span<const int>(&listener_, 1)), 0);
    }
    void TearDown() override {
        for (int fd : clients_)
            close(fd);
        loop_.reset();
        if (listener_ >= 0) close(listener_);
        if (wake_ >= 0) close(wake_);
    }
    int connect_client() {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fd, reinterpret_cast<const sockaddr*>(&endpoint_.addr), endpoint_.len);
        clients_.push_back(fd);
        spin(3);
        return fd;
    }
    void spin(int turns) {
        for (int i = 0; i < turns; ++i)
            loop_->turn(1);
    }
    void send_all(int fd, const std::string& bytes) {
        size_t off = 0;
        while (off < bytes.size()) {
            ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
            if (n > 0) {
                off += static_cast<size_t>(n);
            } else {
                ASSERT_EQ(errno, EAGAIN);
                spin(1);
            }
        }
    }
    // Reads until `want` bytes arrived, EOF, or max_turns loop turns.
    std::string receive(int fd, size_t want, int max_turns = 3000, bool* eof = nullptr) {
        std::string got;
        std::vector<char> buf(1 << 16);
        for (int t = 0; t < max_turns && got.size() < want; ++t) {
            spin(1);
            for (;;) {
                ssize_t n = recv(fd, buf.data(), buf.size(), 0);
                if (n > 0) {
                    got.append(buf.data(), static_cast<size_t>(n));
                    continue;
                }
                if (n == 0) {
                    if (eof != nullptr) *eof = true;
                    return got;
                }
                break;
            }
        }
        return got;
    }
    // Expects an error status, then the server's FIN.
    void expect_refused(const std::string& request, const std::string& status) {
        int fd = connect_client();
        send_all(fd, request);
        bool eof = false;
        std::string r = receive(fd, 1 << 20, 3000, &eof);
        EXPECT_EQ(r.rfind("HTTP/1.1 " + status, 0), 0u) << r;
        EXPECT_TRUE(eof) << status;
        EXPECT_TRUE(app_.bodies.empty());
    }

    LoopSettings settings_;
    LoopShared shared_;
    BodyEchoApp app_;
    int wake_ = -1;
    int listener_ = -1;
    wsgate::io::Endpoint endpoint_;
    std::optional<Loop> loop_;
    std::vector<int> clients_;
};

using Backends = ::testing::Types<UseUring, UseEpoll>;
TYPED_TEST_SUITE(HttpBodyTest, Backends);

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
