// Byte streams in the reactor (ws/stream_application.hpp), on both backends:
// outbound connects (success, refused, timeout), bytes both ways, bytes left
// untaken and offered again, the queue cap and its drain notice, FIN.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "loop_fixture.hpp"
#include "quiet_websocket_app.hpp"
#include "ws/stream_application.hpp"

namespace {

using wsgate::ws::ConnectionHandle;
using wsgate::ws::SendResult;

struct StreamApp : wsgate::test::QuietWebSocketApp {
    std::vector<ConnectionHandle> connected;
    std::vector<std::pair<ConnectionHandle, int>> ended;
    std::vector<ConnectionHandle> drained;
    std::string received;
    bool refuse_bytes = false;  // on_stream_data takes nothing

    template <class Loop>
    wsgate::ws::HttpAnswer on_http_request(Loop&, ConnectionHandle,
                                           const wsgate::proto::HttpRequest&,
                                           std::span<const uint8_t>, bool,
                                           wsgate::ws::Outbound& out) {
        out.send_raw("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        return wsgate::ws::HttpAnswer::now;
    }
    template <class Loop>
    void relay_upgrade(Loop&, ConnectionHandle, const wsgate::proto::HttpRequest&,
                       std::string_view) {}
    template <class Loop>
    void on_connected(Loop&, ConnectionHandle h) {
        connected.push_back(h);
    }
    template <class Loop>
    size_t on_stream_data(Loop&, ConnectionHandle, std::span<uint8_t> bytes) {
        if (refuse_bytes) return 0;
        received.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        return bytes.size();
    }
    template <class Loop>
    void on_stream_drained(Loop&, ConnectionHandle h) {
        drained.push_back(h);
    }
    template <class Loop>
    void on_stream_end(Loop&, ConnectionHandle h, int error) {
        ended.push_back({h, error});
    }
};

template <class B>
class StreamConnectTest : public wsgate::test::LoopFixture<B, StreamApp> {
  protected:
    void configure(wsgate::ws::LoopSettings& s) override {
        s.max_outbound = 16;
        s.max_queued_bytes = 4096;
    }
    // A listener of the test's own (the upstream), with its address.
    int upstream(int backlog, sockaddr_in* addr) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
        EXPECT_EQ(listen(fd, backlog), 0);
        socklen_t len = sizeof(a);
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        *addr = a;
        this->clients_.push_back(fd);
        return fd;
    }
    ConnectionHandle connect_to(const sockaddr_in& a, uint32_t timeout_ms = 5000) {
        int error = 1;
        ConnectionHandle h = this->loop_->connect(reinterpret_cast<const sockaddr*>(&a), sizeof(a),
                                                  timeout_ms, &error);
        EXPECT_EQ(error, 0);
        EXPECT_FALSE(h.empty());
        return h;
    }
    // Turns the loop until pred() or max_turns.
    template <class Pred>
    void spin_until(Pred pred, int max_turns = 3000) {
        for (int i = 0; i < max_turns && !pred(); ++i)
            this->spin(1);
    }
};
TYPED_TEST_SUITE(StreamConnectTest, wsgate::test::LoopBackends);

TYPED_TEST(StreamConnectTest, ConnectedStreamCarriesBytesBothWaysUntilFin) {
    sockaddr_in addr{};
    int lst = this->upstream(8, &addr);
    ConnectionHandle h = this->connect_to(addr);
    this->spin_until([&] { return !this->app_.connected.empty(); });
    ASSERT_EQ(this->app_.connected.size(), 1u);
    EXPECT_EQ(this->app_.connected[0], h);
    int peer = accept4(lst, nullptr, nullptr, SOCK_NONBLOCK);
    ASSERT_GE(peer, 0);
    this->clients_.push_back(peer);
    this->send_all(peer, "from upstream");
    this->spin_until([&] { return this->app_.received.size() >= 13; });
    EXPECT_EQ(this->app_.received, "from upstream");
    const std::string out = "to upstream";
    EXPECT_EQ(
        this->loop_->send_stream(h, {reinterpret_cast<const uint8_t*>(out.data()), out.size()}),
        SendResult::queued);
    EXPECT_EQ(this->receive(peer, out.size()), out);
    shutdown(peer, SHUT_WR);
    this->spin_until([&] { return !this->app_.ended.empty(); });
    ASSERT_EQ(this->app_.ended.size(), 1u);
    EXPECT_EQ(this->app_.ended[0], std::make_pair(h, 0));  // FIN
    bool eof = false;
    this->receive(peer, 1, 3000, &eof);
    EXPECT_TRUE(eof);  // and the loop's side is closed
    this->spin_until([&] { return this->loop_->connection_count() == 0; });
    EXPECT_EQ(this->loop_->connection_count(), 0u);
}

TYPED_TEST(StreamConnectTest, RefusedConnectIsReportedOnce) {
    sockaddr_in addr{};
    int lst = this->upstream(8, &addr);
    close(lst);  // nobody listens there now
    this->clients_.erase(std::find(this->clients_.begin(), this->clients_.end(), lst));
    ConnectionHandle h = this->connect_to(addr);
    this->spin_until([&] { return !this->app_.ended.empty(); });
    ASSERT_EQ(this->app_.ended.size(), 1u);
    EXPECT_EQ(this->app_.ended[0], std::make_pair(h, -ECONNREFUSED));
    EXPECT_TRUE(this->app_.connected.empty());
    this->spin_until([&] { return this->loop_->connection_count() == 0; });
    EXPECT_EQ(this->loop_->connection_count(), 0u);
    const std::string out = "x";
    EXPECT_EQ(this->loop_->send_stream(h, {reinterpret_cast<const uint8_t*>(out.data()), 1}),
              SendResult::gone);
}

TYPED_TEST(StreamConnectTest, ConnectTimesOutNotBefore) {
    // A listener whose accept queue is full: SYNs are dropped.
    sockaddr_in addr{};
    this->upstream(0, &addr);
    for (int i = 0; i < 3; ++i) {
        int f = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(f, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
        this->clients_.push_back(f);
    }
    usleep(100 * 1000);
    auto t0 = std::chrono::steady_clock::now();
    ConnectionHandle h = this->connect_to(addr, 300);
    this->spin_until([&] { return !this->app_.ended.empty(); }, 100000);
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    ASSERT_EQ(this->app_.ended.size(), 1u);
    EXPECT_EQ(this->app_.ended[0], std::make_pair(h, -ETIMEDOUT));
    EXPECT_GE(ms, 300);
    EXPECT_LT(ms, 1000);
}

TYPED_TEST(StreamConnectTest, UntakenBytesWaitForResumeReading) {
    sockaddr_in addr{};
    int lst = this->upstream(8, &addr);
    ConnectionHandle h = this->connect_to(addr);
    this->spin_until([&] { return !this->app_.connected.empty(); });
    int peer = accept4(lst, nullptr, nullptr, SOCK_NONBLOCK);
    this->clients_.push_back(peer);
    this->app_.refuse_bytes = true;
    this->send_all(peer, "held back");
    this->spin(20);
    EXPECT_EQ(this->app_.received, "");
    this->app_.refuse_bytes = false;
    EXPECT_TRUE(this->loop_->resume_reading(h));
    this->spin_until([&] { return this->app_.received.size() >= 9; });
    EXPECT_EQ(this->app_.received, "held back");
    this->send_all(peer, " and more");  // reading resumed
    this->spin_until([&] { return this->app_.received.size() >= 18; });
    EXPECT_EQ(this->app_.received, "held back and more");
}

TYPED_TEST(StreamConnectTest, OverTheCapIsRefusedThenDrainedIsTold) {
    sockaddr_in addr{};
    int lst = this->upstream(8, &addr);
    ConnectionHandle h = this->connect_to(addr);
    this->spin_until([&] { return !this->app_.connected.empty(); });
    int peer = accept4(lst, nullptr, nullptr, SOCK_NONBLOCK);
    this->clients_.push_back(peer);
    int small = 4096;
    setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    std::string chunk(1000, 'q');
    size_t queued = 0;
    SendResult r = SendResult::queued;
    for (int i = 0; i < 100000 && r == SendResult::queued; ++i) {
        r = this->loop_->send_stream(
            h, {reinterpret_cast<const uint8_t*>(chunk.data()), chunk.size()});
        if (r == SendResult::queued) queued += chunk.size();
        if (i % 8 == 0) this->spin(1);  // the kernel takes what it can
    }
    ASSERT_EQ(r, SendResult::over_cap);
    EXPECT_TRUE(this->app_.drained.empty());
    // The peer reads everything: the queue drains and the app hears of it.
    std::string got = this->receive(peer, queued);
    EXPECT_EQ(got.size(), queued);
    this->spin_until([&] { return !this->app_.drained.empty(); });
    ASSERT_EQ(this->app_.drained.size(), 1u);
    EXPECT_EQ(this->app_.drained[0], h);
    EXPECT_LE(this->loop_->peak_queued_bytes(), 4096u + chunk.size());
}

}  // namespace
