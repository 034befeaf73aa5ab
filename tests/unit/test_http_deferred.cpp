// Deferred HTTP responses through the whole server loop, on both backends:
// an app answers a plain request later (HttpAnswer::later) with
// respond_http, from its inbox (posted by another thread, as a cross-loop
// answer would be); the connection then carries on exactly as after an
// immediate answer. While the answer is pending, pipelined requests wait
// (bounded), the handshake timeout does not fire, an answer that never
// comes gets 504, and a peer that leaves makes the handle stale. Also the
// optional accept_upgrade hook (404 for upgrades the app does not serve).
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "loop_fixture.hpp"
#include "quiet_websocket_app.hpp"

namespace {

using wsgate::ws::ConnectionHandle;
using wsgate::ws::HttpAnswer;
using wsgate::ws::LoopMessage;
using wsgate::ws::LoopSettings;

constexpr uint32_t kRespondKeepAlive = 1;  // inbox tag: answer the handle, keep alive
constexpr uint32_t kRespondClose = 2;      // inbox tag: answer the handle, then FIN

// Requests for /defer... are answered later, through the inbox; anything
// else at once with 204. WebSocket only on /connection/websocket.
struct DeferApp : wsgate::test::QuietWebSocketApp {
    std::vector<std::string> targets;         // every request, in order
    std::vector<ConnectionHandle> deferred;   // handles of requests answered later
    std::vector<bool> responded;              // respond_http results, in order
    std::vector<ConnectionHandle> ws_opened;  // WebSocket connections

    template <class Loop>
    void on_open(Loop&, ConnectionHandle h) {
        ws_opened.push_back(h);
    }
    template <class Loop>
    HttpAnswer on_http_request(Loop&, ConnectionHandle h, const wsgate::proto::HttpRequest& request,
                               std::span<const uint8_t>, bool, wsgate::ws::Outbound& out) {
        targets.emplace_back(request.target);
        if (request.target.rfind("/defer", 0) == 0) {
            deferred.push_back(h);
            return HttpAnswer::later;
        }
        out.send_raw("HTTP/1.1 204 No Content\r\n\r\n");
        return HttpAnswer::now;
    }
    template <class Loop>
    void on_inbox_message(Loop& loop, const LoopMessage& m) {
        std::string body = "answer " + std::to_string(m.word & 0xffff);
        std::string r =
            "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        responded.push_back(loop.respond_http(
            ConnectionHandle::from_bits(m.word),
            {reinterpret_cast<const uint8_t*>(r.data()), r.size()}, m.tag == kRespondKeepAlive));
    }
    bool accept_upgrade(const wsgate::proto::HttpRequest& request) {
        return request.target == "/connection/websocket";
    }
};
static_assert(wsgate::ws::UpgradeFilter<DeferApp>);

std::string get(const std::string& path) {
    return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
}
std::string answer_for(ConnectionHandle h) {
    std::string body = "answer " + std::to_string(h.bits() & 0xffff);
    return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}
const std::string kNoContent = "HTTP/1.1 204 No Content\r\n\r\n";

template <class B>
class HttpDeferredTest : public wsgate::test::LoopFixture<B, DeferApp> {
  protected:
    void configure(LoopSettings& s) override {
        s.handshake_timeout_ticks = 2;  // 200-300 ms: shorter than the waits below
        s.http_response_timeout_ticks = 20;
        s.backend.recv_buffer_size = 4096;
    }
    // Another thread posts the answer for `h` to the loop's inbox, as a
    // channel's home loop would; the loop turns until the app has used it.
    void answer_from_another_thread(ConnectionHandle h, uint32_t tag = kRespondKeepAlive) {
        size_t before = this->app_.responded.size();
        std::thread producer([&] {
            LoopMessage m;
            m.tag = tag;
            m.word = h.bits();
            ASSERT_TRUE(this->inbox_.post_and_signal(m));
        });
        producer.join();
        for (int i = 0; i < 2000 && this->app_.responded.size() == before; ++i)
            this->spin(1);
        ASSERT_EQ(this->app_.responded.size(), before + 1);
    }
    void wait_for_requests(size_t n) {
        for (int i = 0; i < 2000 && this->app_.targets.size() < n; ++i)
            this->spin(1);
        ASSERT_EQ(this->app_.targets.size(), n);
    }
    bool respond_now(ConnectionHandle h) {
        static const std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        return this->loop_->respond_http(h, {reinterpret_cast<const uint8_t*>(r.data()), r.size()},
                                         true);
    }
};
TYPED_TEST_SUITE(HttpDeferredTest, wsgate::test::LoopBackends);

TYPED_TEST(HttpDeferredTest, AnswerPostedFromAnotherThreadThenKeepAlive) {
    int fd = this->connect_client();
    this->send_all(fd, get("/defer/1"));
    this->wait_for_requests(1);
    ASSERT_EQ(this->app_.deferred.size(), 1u);
    EXPECT_EQ(this->receive(fd, 1, 50), "");  // nothing until the app answers
    this->answer_from_another_thread(this->app_.deferred[0]);
    EXPECT_TRUE(this->app_.responded[0]);
    std::string first = answer_for(this->app_.deferred[0]);
    EXPECT_EQ(this->receive(fd, first.size()), first);
    // Keep-alive: the same connection serves an immediate request, then
    // another deferred one; the second answer for the first request finds
    // no response pending... until the second request is pending.
    this->send_all(fd, get("/now"));
    EXPECT_EQ(this->receive(fd, kNoContent.size()), kNoContent);
    this->send_all(fd, get("/defer/2"));
    this->wait_for_requests(3);
    ASSERT_EQ(this->app_.deferred.size(), 2u);
    EXPECT_EQ(this->app_.deferred[1], this->app_.deferred[0]);  // the same connection
    this->answer_from_another_thread(this->app_.deferred[1], kRespondClose);
    EXPECT_TRUE(this->app_.responded[1]);
    bool eof = false;
    std::string second = answer_for(this->app_.deferred[1]);
    EXPECT_EQ(this->receive(fd, 1 << 16, 3000, &eof), second);
    EXPECT_TRUE(eof);  // no keep-alive: FIN after the answer
    EXPECT_FALSE(this->respond_now(this->app_.deferred[1]));
}

TYPED_TEST(HttpDeferredTest, AnsweringTwiceQueuesOnce) {
    int fd = this->connect_client();
    this->send_all(fd, get("/defer"));
    this->wait_for_requests(1);
    EXPECT_TRUE(this->respond_now(this->app_.deferred[0]));
    EXPECT_FALSE(this->respond_now(this->app_.deferred[0]));  // nothing pending any more
    std::string one = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    EXPECT_EQ(this->receive(fd, 2 * one.size(), 100), one);
}

TYPED_TEST(HttpDeferredTest, PipelinedRequestsWaitAndAreAnsweredInOrder) {
    int fd = this->connect_client();
    this->send_all(fd, get("/defer/a") + get("/now") + get("/defer/b") + get("/now"));
    this->wait_for_requests(1);
    this->spin(50);
    EXPECT_EQ(this->app_.targets.size(), 1u);  // the rest waits for the first answer
    EXPECT_EQ(this->receive(fd, 1, 20), "");
    ConnectionHandle h = this->app_.deferred[0];
    this->answer_from_another_thread(h);
    std::string first = answer_for(h);
    EXPECT_EQ(this->receive(fd, first.size() + kNoContent.size()), first + kNoContent);
    this->wait_for_requests(3);
    EXPECT_EQ(this->app_.targets,
              (std::vector<std::string>{"/defer/a", "/now", "/defer/b"}));  // not the 4th yet
    this->answer_from_another_thread(this->app_.deferred[1]);
    std::string third = answer_for(this->app_.deferred[1]);
    EXPECT_EQ(this->receive(fd, third.size() + kNoContent.size()), third + kNoContent);
    EXPECT_EQ(this->app_.targets.size(), 4u);
}

TYPED_TEST(HttpDeferredTest, HandshakeTimeoutDoesNotFireWhilePending) {
    int fd = this->connect_client();
    this->send_all(fd, get("/defer"));
    this->wait_for_requests(1);
    // Five handshake timeouts long, well within the response timeout.
    for (int i = 0; i < 10; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        this->spin(1);
    }
    EXPECT_EQ(this->receive(fd, 1, 5), "");
    this->answer_from_another_thread(this->app_.deferred[0]);
    EXPECT_TRUE(this->app_.responded[0]);
    std::string first = answer_for(this->app_.deferred[0]);
    EXPECT_EQ(this->receive(fd, first.size()), first);
}

TYPED_TEST(HttpDeferredTest, PeerGoneWhilePendingMakesTheHandleStale) {
    int fd = this->connect_client();
    this->send_all(fd, get("/defer"));
    this->wait_for_requests(1);
    ConnectionHandle h = this->app_.deferred[0];
    close(fd);
    this->clients_.clear();
    for (int i = 0; i < 2000 && this->loop_->connection_count() > 0; ++i)
        this->spin(1);
    ASSERT_EQ(this->loop_->connection_count(), 0u);
    this->answer_from_another_thread(h);
    EXPECT_FALSE(this->app_.responded[0]);
    // A new connection in the same slot: the old handle still misses it.
    int fresh = this->connect_client();
    this->send_all(fresh, get("/defer"));
    this->wait_for_requests(2);
    ConnectionHandle now = this->app_.deferred[1];
    EXPECT_EQ(now.index(), h.index());
    EXPECT_FALSE(this->respond_now(h));
    // Another loop's handle, and a WebSocket connection's, are refused too.
    EXPECT_FALSE(this->respond_now(ConnectionHandle(7, now.index(), now.generation())));
    EXPECT_TRUE(this->respond_now(now));
}

TYPED_TEST(HttpDeferredTest, WebSocketHandleHasNoResponsePending) {
    int fd = this->connect_client();
    std::string upgrade = wsgate::test::kUpgradeRequest;
    upgrade.replace(upgrade.find("/chat"), 5, "/connection/websocket");
    this->send_all(fd, upgrade);
    std::string head = this->receive(fd, wsgate::test::kUpgradeResponseBytes);
    EXPECT_EQ(head.rfind("HTTP/1.1 101 ", 0), 0u) << head;
    ASSERT_EQ(this->app_.ws_opened.size(), 1u);
    EXPECT_FALSE(this->respond_now(this->app_.ws_opened[0]));
    EXPECT_EQ(this->receive(fd, 1, 20), "");
}

TYPED_TEST(HttpDeferredTest, UnansweredRequestGets504AfterTheBound) {
    int fd = this->connect_client();
    this->send_all(fd, get("/defer") + get("/now"));
    this->wait_for_requests(1);
    bool eof = false;
    std::string r = this->receive(fd, 1 << 16, 6000, &eof);
    EXPECT_EQ(r.rfind("HTTP/1.1 504 ", 0), 0u) << r;
    EXPECT_TRUE(eof);
    EXPECT_EQ(this->app_.targets.size(), 1u);  // the pipelined request is dropped with it
    EXPECT_FALSE(this->respond_now(this->app_.deferred[0]));
}

TYPED_TEST(HttpDeferredTest, PipelinedInputWhilePendingIsBounded) {
    int fd = this->connect_client();
    this->send_all(fd, get("/defer"));
    this->wait_for_requests(1);
    // The client pipelines far more than a loop may hold for it: sends
    // until its socket is full.
    std::string burst;
    while (burst.size() < (1 << 20))
        burst += get("/now");
    size_t sent = 0;
    for (int t = 0; t < 200; ++t) {
        ssize_t n = send(fd, burst.data(), burst.size(), MSG_NOSIGNAL);
        if (n > 0) sent += static_cast<size_t>(n);
        this->spin(1);
    }
    const size_t bound = (this->settings_.backend.recv_buffer_count + 1) *
                         size_t{this->settings_.backend.recv_buffer_size};
    EXPECT_GT(sent, bound);  // more was sent than may be parked
    EXPECT_LE(this->loop_->peak_parked_input_bytes(), bound);
    EXPECT_EQ(this->app_.targets.size(), 1u);
    EXPECT_TRUE(this->respond_now(this->app_.deferred[0]));
    std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    std::string r = this->receive(fd, ok.size() + kNoContent.size());
    EXPECT_EQ(r.substr(0, ok.size() + kNoContent.size()), ok + kNoContent);  // then more 204s
}

TYPED_TEST(HttpDeferredTest, UpgradeTheAppDoesNotServeGets404) {
    int fd = this->connect_client();
    this->send_all(fd, wsgate::test::kUpgradeRequest);  // on /chat
    bool eof = false;
    std::string r = this->receive(fd, 1 << 16, 3000, &eof);
    EXPECT_EQ(r.rfind("HTTP/1.1 404 ", 0), 0u) << r;
    EXPECT_TRUE(eof);
    EXPECT_TRUE(this->app_.ws_opened.empty());
}

}  // namespace

namespace {

// --trace shows a deferred response like an immediate one: the request when
// it is read, the response when the app hands it over.
template <class B>
class HttpDeferredTraceTest : public HttpDeferredTest<B> {
  protected:
    void configure(LoopSettings& s) override {
        HttpDeferredTest<B>::configure(s);
        s.trace = true;
    }
};
TYPED_TEST_SUITE(HttpDeferredTraceTest, wsgate::test::LoopBackends);

TYPED_TEST(HttpDeferredTraceTest, DeferredResponseIsTraced) {
    int fd = this->connect_client();
    testing::internal::CaptureStderr();
    this->send_all(fd, get("/defer"));
    this->wait_for_requests(1);
    EXPECT_TRUE(this->respond_now(this->app_.deferred[0]));
    std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    std::string got = this->receive(fd, ok.size());
    std::string log = testing::internal::GetCapturedStderr();
    EXPECT_EQ(got, ok);
    // Each line ends with the connection's request id.
    EXPECT_NE(log.find(" request GET /defer HTTP/1.1␍␊Host: x␍␊␍␊ (conn "), std::string::npos)
        << log;
    EXPECT_NE(log.find(" response HTTP/1.1 200 OK␍␊Content-Length: 0␍␊␍␊ (conn "),
              std::string::npos)
        << log;
}

}  // namespace
