// The whole server loop in-process, on both backends, driven turn by turn
// from the test thread (no threads, no timing races): a raw non-blocking
// client talks to it over loopback.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "gateway/echo_app.hpp"
#include "io/uring_features.hpp"
#include "loop_fixture.hpp"
#include "ws/settings_update.hpp"

namespace {

using wsgate::gateway::EchoApp;
using wsgate::ws::LoopSettings;

constexpr const char* kUpgrade = wsgate::test::kUpgradeRequest;
using wsgate::test::masked_frame;

template <class B>
class ServerLoopTest : public wsgate::test::LoopFixture<B, EchoApp> {
  protected:
    using Base = wsgate::test::LoopFixture<B, EchoApp>;
    using Loop = typename Base::Loop;
    using Base::app_;
    using Base::clients_;
    using Base::inbox_;
    using Base::listener_;
    using Base::loop_;
    using Base::settings_;
    using Base::shared_;
    using Base::spin;

    void configure(LoopSettings& s) override { s.max_queued_bytes = 256 * 1024; }

    // Hands the loop a copy of settings_ the way a reload does: a settings
    // message through its inbox, adopted between events.
    void reload_settings() {
        wsgate::ws::SettingsUpdate update;
        update.loop = std::make_shared<const LoopSettings>(settings_);
        ASSERT_TRUE(inbox_.post_and_signal(wsgate::ws::settings_message(std::move(update))));
        spin(1);
    }
    // What --max-queued-bytes guarantees for plain (uncompressed) echo: the
    // cap plus the echo of one receive buffer (its bytes and one frame header).
    size_t queue_bound() const {
        return settings_.max_queued_bytes + settings_.backend.recv_buffer_size +
               wsgate::proto::kMaxServerFrameHeader;
    }
    // What one connection may have parked: the rest of one read on epoll; on
    // io_uring what one armed receive may deliver (it ends once past
    // kRecvBytesPerArm) - unbounded by the loop on kernels before 6.17.
    std::optional<size_t> parked_bound() const {
        size_t buffer = settings_.backend.recv_buffer_size;
        if (!B::kUring) return buffer;
        if (!wsgate::io::uring_features().recv_total_limit) return std::nullopt;
        return wsgate::io::UringBackend<Loop>::kRecvBytesPerArm + buffer;
    }
    void expect_parked_within_bound() {
        size_t parked = loop_->peak_parked_input_bytes();
        if (auto bound = parked_bound()) {
            EXPECT_LE(parked, *bound);
        } else {
            std::printf("    (parked input not checked: no recv_total_limit on this kernel)\n");
        }
    }
    // A fresh loop (peaks start at zero) with the current settings.
    void restart_loop() {
        for (int fd : clients_)
            close(fd);
        clients_.clear();
        loop_.reset();
        loop_.emplace(settings_, shared_, app_, inbox_);
        ASSERT_EQ(loop_->init(std::span<const int>(&listener_, 1)), 0);
    }
    // Lets a silent handshake become old enough to be displaced (50 ms).
    void age_handshakes() {
        usleep(60 * 1000);
        spin(2);
    }
};

TYPED_TEST_SUITE(ServerLoopTest, wsgate::test::LoopBackends);

TYPED_TEST(ServerLoopTest, HealthzKeepAliveThenUpgradeEcho) {
    int fd = this->connect_client();
    this->send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string r = this->receive(fd, 83);
    EXPECT_NE(r.find("200 OK"), std::string::npos);
    EXPECT_EQ(r.substr(r.size() - 3), "ok\n");

    int ws = this->upgraded_client();
    this->send_all(ws, masked_frame(0x81, "hello"));
    EXPECT_EQ(this->receive(ws, 7), std::string("\x81\x05hello", 7));
    EXPECT_EQ(this->loop_->connection_count(), 2u);
}

TYPED_TEST(ServerLoopTest, HalfClosedClientStillGetsItsResponse) {
    int fd = this->connect_client();
    this->send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    shutdown(fd, SHUT_WR);
    bool eof = false;
    std::string r = this->receive(fd, 1000, 500, &eof);
    EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
    EXPECT_EQ(r.substr(r.size() - 3), "ok\n");
    EXPECT_TRUE(eof);
    for (int i = 0; i < 100 && this->loop_->connection_count() != 0; ++i)
        this->spin(1);
    EXPECT_EQ(this->loop_->connection_count(), 0u);
}

// --io-stats: the loop counts messages and the kernel work they cost, so a
// benchmark can divide one by the other.
TYPED_TEST(ServerLoopTest, IoCountersCountMessagesAndKernelWork) {
    int ws = this->upgraded_client();
    const wsgate::io::LoopCounters before = this->loop_->io_counters();
    EXPECT_EQ(before.accepts, 1u);
    EXPECT_EQ(before.messages, 0u);
    for (int i = 0; i < 10; ++i) {
        this->send_all(ws, masked_frame(0x82, "ping-" + std::to_string(i)));
        EXPECT_EQ(this->receive(ws, 8).size(), 8u);
    }
    const wsgate::io::LoopCounters& after = this->loop_->io_counters();
    EXPECT_EQ(after.messages, 10u);
    EXPECT_GE(after.sends - before.sends, 10u);  // one echo each, not merged: sent one at a time
    EXPECT_GT(after.waits, before.waits);
    EXPECT_EQ(after.waits, after.turns);
    if (TypeParam::kUring) {
        EXPECT_GE(after.recv_cqes - before.recv_cqes, 10u);
        EXPECT_GE(after.send_cqes - before.send_cqes, 10u);
        EXPECT_GE(after.sqes - before.sqes, after.sends - before.sends);
        EXPECT_GE(after.cqes - before.cqes,
                  (after.recv_cqes - before.recv_cqes) + (after.send_cqes - before.send_cqes));
        EXPECT_EQ(after.reads, 0u);
    } else {
        EXPECT_GE(after.reads - before.reads, 10u);
        EXPECT_EQ(after.sqes, 0u);
        EXPECT_EQ(after.cqes, 0u);
    }
}

TYPED_TEST(ServerLoopTest, UpgradeRequestTrickledByteByByte) {
    int fd = this->connect_client();
    std::string req = std::string(kUpgrade) + masked_frame(0x82, "bin");
    for (char ch : req) {
        this->send_all(fd, std::string(1, ch));
        this->spin(1);
    }
    std::string r = this->receive(fd, 129 + 5);
    ASSERT_GE(r.size(), 5u);
    EXPECT_EQ(r.substr(r.size() - 5), std::string("\x82\x03"
                                                  "bin",
                                                  5));
}

TYPED_TEST(ServerLoopTest, LargeMessageComesBackWhole) {
    int ws = this->upgraded_client();
    std::string payload(300000, '\0');
    for (size_t i = 0; i < payload.size(); ++i)
        payload[i] = static_cast<char>(i * 7);
    this->send_all(ws, masked_frame(0x82, payload));
    // The echo may be fragmented: reassemble the frames as they come.
    std::string got;
    std::string message;
    size_t pos = 0;
    bool fin = false;
    for (int turn = 0; turn < 5000 && !fin; ++turn) {
        got += this->receive(ws, 1, 1);
        while (!fin && pos + 2 <= got.size()) {
            uint8_t b0 = static_cast<uint8_t>(got[pos]);
            uint64_t len = static_cast<uint8_t>(got[pos + 1]) & 0x7F;
            size_t h = len == 126 ? 4 : len == 127 ? 10 : 2;
            if (pos + h > got.size()) break;
            if (len == 126) {
                len = (uint64_t{static_cast<uint8_t>(got[pos + 2])} << 8) |
                      static_cast<uint8_t>(got[pos + 3]);
            } else if (len == 127) {
                len = 0;
                for (int i = 0; i < 8; ++i)
                    len = (len << 8) | static_cast<uint8_t>(got[pos + 2 + i]);
            }
            if (pos + h + len > got.size()) break;
            EXPECT_EQ(b0 & 0x0F, message.empty() ? 0x2 : 0x0);
            message += got.substr(pos + h, len);
            fin = (b0 & 0x80) != 0;
            pos += h + len;
        }
    }
    EXPECT_TRUE(fin);
    EXPECT_EQ(message, payload);
}

TYPED_TEST(ServerLoopTest, ProtocolErrorSendsCloseThenFin) {
    int ws = this->upgraded_client();
    std::string unmasked = "\x81\x02hi";
    this->send_all(ws, unmasked);
    bool eof = false;
    std::string r = this->receive(ws, 64, 200, &eof);
    EXPECT_EQ(r, std::string("\x88\x10\x03\xea"
                             "protocol error",
                             18));
    EXPECT_TRUE(eof);  // FIN follows the close frame
}

TYPED_TEST(ServerLoopTest, PeerCloseIsEchoedAndConnectionReleased) {
    int ws = this->upgraded_client();
    this->send_all(ws, masked_frame(0x88, std::string("\x0b\xb8"
                                                      "bye",
                                                      5)));
    bool eof = false;
    std::string r = this->receive(ws, 4, 200, &eof);
    EXPECT_EQ(r, std::string("\x88\x02\x0b\xb8", 4));
    shutdown(ws, SHUT_WR);
    for (int i = 0; i < 200 && this->loop_->connection_count() != 0; ++i)
        this->spin(1);
    EXPECT_EQ(this->loop_->connection_count(), 0u);
    EXPECT_EQ(this->loop_->output_chunks(), 0u);
}

TYPED_TEST(ServerLoopTest, ClientThatNeverReadsHasBoundedQueue) {
    int ws = this->upgraded_client();
    int small = 4096;  // keep the kernel buffers small so the server's queue fills
    setsockopt(ws, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    std::string frame = masked_frame(0x82, std::string(64 * 1024, 'x'));
    std::string stream;
    const size_t kFrames = 256;  // 16 MiB offered
    for (size_t i = 0; i < kFrames; ++i)
        stream += frame;
    size_t off = 0;
    size_t max_chunks = 0;
    for (int round = 0; round < 1000 && off < stream.size(); ++round) {
        ssize_t n = send(ws, stream.data() + off, stream.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) off += static_cast<size_t>(n);
        this->spin(1);
        max_chunks = std::max(max_chunks, this->loop_->output_chunks());
    }
    // Reading stopped: the client could not push everything it offered.
    EXPECT_LT(off, stream.size());
    // The --max-queued-bytes guarantee: the cap plus one receive buffer's echo.
    EXPECT_LE(this->loop_->peak_queued_bytes(), this->queue_bound());
    // Parked input is kept in output chunks too; all of it stays far below the 16 MiB offered.
    EXPECT_LE(max_chunks * wsgate::io::kLargeChunkBytes, 2u * 1024 * 1024);

    // A second client is still served meanwhile.
    int other = this->upgraded_client();
    this->send_all(other, masked_frame(0x81, "still here"));
    EXPECT_EQ(this->receive(other, 12), std::string("\x81\x0astill here", 12));
}

// The output cap is hard on both backends, checked per receive completion:
// a client that sends messages of various sizes and never reads makes the
// server queue at most cap + one receive buffer's echo, whatever the kernel
// delivered in the same turn; what arrived beyond is parked, not dropped:
// once the client reads, every byte it sent comes back, in order.
TYPED_TEST(ServerLoopTest, OutputCapIsHardPerCompletionAndParkedInputIsKept) {
    for (size_t zero_copy : {size_t{SIZE_MAX}, size_t{8192}}) {
        for (size_t cap : {size_t{64 * 1024}, size_t{256 * 1024}}) {
            for (size_t size :
                 {size_t{1000}, size_t{16 * 1024 + 5}, size_t{64 * 1024}, size_t{300 * 1024}}) {
                SCOPED_TRACE(testing::Message() << "cap " << cap << " message " << size
                                                << " zero-copy from " << zero_copy);
                this->settings_.max_queued_bytes = cap;
                this->settings_.zero_copy_min_bytes = zero_copy;
                this->restart_loop();
                int ws = this->upgraded_client();
                // Small enough that the server's queue fills; not so small that
                // loopback segments no longer fit and get dropped (then the
                // drain below crawls through retransmission back-off).
                int small = 64 * 1024;
                setsockopt(ws, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
                std::string payload(size, '\0');
                for (size_t i = 0; i < size; ++i)
                    payload[i] = static_cast<char>(i * 7 + size);
                std::string frame = masked_frame(0x82, payload);
                std::string stream;
                while (stream.size() < 24 * 1024 * 1024)
                    stream += frame;
                size_t off = 0;
                int idle_rounds = 0;  // no progress: the server stopped reading
                for (int round = 0; round < 2000 && off < stream.size() && idle_rounds < 50;
                     ++round) {
                    ssize_t n = send(ws, stream.data() + off, stream.size() - off,
                                     MSG_NOSIGNAL | MSG_DONTWAIT);
                    idle_rounds = n > 0 ? 0 : idle_rounds + 1;
                    if (n > 0) off += static_cast<size_t>(n);
                    this->spin(1);
                }
                EXPECT_LT(off, stream.size()) << "reading never paused";
                size_t peak = this->loop_->peak_queued_bytes();
                std::printf(
                    "    %-8s cap %4zu KiB, %6zu-byte messages, zero-copy %s: peak queued "
                    "%zu bytes (cap + %zd), most parked %zu\n",
                    TypeParam::kUring ? "io_uring" : "epoll", cap >> 10, size,
                    zero_copy == SIZE_MAX ? "off" : "on", peak,
                    static_cast<ssize_t>(peak) - static_cast<ssize_t>(cap),
                    this->loop_->peak_parked_input_bytes());
                EXPECT_GE(peak, cap) << "the queue never reached the cap: nothing measured";
                EXPECT_LE(peak, this->queue_bound());
                this->expect_parked_within_bound();

                // Now read everything: the echo is the payload of every byte
                // sent (complete frames, then the part of the last one).
                size_t whole = off / frame.size();
                size_t part = off % frame.size();
                size_t header = frame.size() - size;
                size_t want = whole * size + (part > header ? part - header : 0);
                std::string echoed;
                std::string got;
                size_t pos = 0;
                char buf[65536];
                for (int t = 0; t < 20000 && echoed.size() < want; ++t) {
                    this->spin(1);
                    ssize_t n;
                    while ((n = recv(ws, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
                        got.append(buf, static_cast<size_t>(n));
                    while (got.size() - pos >= 2) {
                        size_t len = static_cast<uint8_t>(got[pos + 1]) & 0x7F;
                        size_t h = 2;
                        if (len == 126 || len == 127) {
                            h = len == 126 ? 4 : 10;
                            if (got.size() - pos < h) break;
                            len = 0;
                            for (size_t i = 2; i < h; ++i)
                                len = (len << 8) | static_cast<uint8_t>(got[pos + i]);
                        }
                        if (got.size() - pos < h + len) break;
                        echoed.append(got, pos + h, len);
                        pos += h + len;
                    }
                    if (pos > (1u << 20)) {
                        got.erase(0, pos);
                        pos = 0;
                    }
                }
                ASSERT_EQ(echoed.size(), want);
                for (size_t k = 0; k < want; k += size) {
                    size_t n = std::min(size, want - k);
                    ASSERT_EQ(echoed.compare(k, n, payload, 0, n), 0) << "at byte " << k;
                }
                EXPECT_EQ(this->loop_->parked_input_bytes(), 0u);
            }
        }
    }
}

// The same cap on the plain HTTP path, checked per request: pipelined GET /
// (a 1.3 KB demo page each) from a client that never reads queue at most
// cap + one response, though one receive buffer holds ~400 requests; every
// request is answered once the client reads.
TYPED_TEST(ServerLoopTest, PipelinedRequestsFromANonReaderAreCappedAndAllAnswered) {
    const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    const size_t kOneResponse = 2048;  // the demo page with its head
    for (size_t cap : {size_t{64 * 1024}, size_t{256 * 1024}}) {
        SCOPED_TRACE(testing::Message() << "cap " << cap);
        this->settings_.max_queued_bytes = cap;
        this->restart_loop();
        int fd = this->connect_client();
        int small = 64 * 1024;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        std::string stream;
        while (stream.size() < 24 * 1024 * 1024)
            stream += request;
        size_t off = 0;
        int idle_rounds = 0;
        for (int round = 0; round < 2000 && off < stream.size() && idle_rounds < 50; ++round) {
            ssize_t n =
                send(fd, stream.data() + off, stream.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            idle_rounds = n > 0 ? 0 : idle_rounds + 1;
            if (n > 0) off += static_cast<size_t>(n);
            this->spin(1);
        }
        EXPECT_LT(off, stream.size()) << "reading never paused";
        size_t peak = this->loop_->peak_queued_bytes();
        std::printf(
            "    %-8s cap %4zu KiB, pipelined GET /: peak queued %zu bytes (cap + %zd), "
            "most parked %zu\n",
            TypeParam::kUring ? "io_uring" : "epoll", cap >> 10, peak,
            static_cast<ssize_t>(peak) - static_cast<ssize_t>(cap),
            this->loop_->peak_parked_input_bytes());
        EXPECT_GE(peak, cap) << "the queue never reached the cap: nothing measured";
        EXPECT_LE(peak, cap + kOneResponse);
        this->expect_parked_within_bound();

        size_t want = off / request.size();
        size_t answered = 0;
        std::string got;
        char buf[65536];
        const std::string status = "HTTP/1.1 200 OK\r\n";
        for (int t = 0; t < 20000 && answered < want; ++t) {
            this->spin(1);
            ssize_t n;
            while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
                got.append(buf, static_cast<size_t>(n));
            size_t pos = 0;
            size_t at;
            while ((at = got.find(status, pos)) != std::string::npos) {
                ++answered;
                pos = at + status.size();
            }
            got.erase(0, pos);
        }
        EXPECT_EQ(answered, want);
        EXPECT_EQ(this->loop_->parked_input_bytes(), 0u);
    }
}

}  // namespace

// Zero-copy echo (io_uring lends receive buffers to the output queue; epoll
// always copies): every echo is byte-exact and every lent buffer goes back.
TYPED_TEST(ServerLoopTest, ZeroCopyEchoIsExactAndGivesBuffersBack) {
    this->settings_.zero_copy_min_bytes = 0;
    this->reload_settings();  // adopted as a reload would
    int ws = this->upgraded_client();
    for (size_t size : {size_t{1}, size_t{125}, size_t{126}, size_t{1000}, size_t{5000}}) {
        std::string payload(size, '\0');
        for (size_t i = 0; i < size; ++i)
            payload[i] = static_cast<char>(i * 13 + size);
        this->send_all(ws, masked_frame(0x82, payload));
        std::string header = size < 126 ? std::string{'\x82', static_cast<char>(size)}
                                        : std::string{'\x82', '\x7e', static_cast<char>(size >> 8),
                                                      static_cast<char>(size & 0xFF)};
        std::string want = header + payload;
        EXPECT_EQ(this->receive(ws, want.size()), want) << size;
    }
    // Two frames in one send: two lent pieces of the same buffer.
    this->send_all(ws, masked_frame(0x81, "first") + masked_frame(0x82, "second"));
    EXPECT_EQ(this->receive(ws, 15), std::string("\x81\x05") + "first" + "\x82\x06" + "second");
    this->spin(3);
    EXPECT_EQ(this->loop_->held_receive_buffers(), 0u);
    EXPECT_EQ(this->loop_->output_chunks(), 0u);
}

// Admission (see ws/server_loop.hpp): handshakes in progress have their own
// limit; at it, a new connection takes the place of the oldest one (408),
// while established connections are never displaced (503 then).
TYPED_TEST(ServerLoopTest, NewClientTakesTheOldestHandshakesPlaceAtTheLimit) {
    this->settings_.max_handshakes = 2;
    this->settings_.max_connections = 3;
    this->settings_.busy_handshake_timeout_ticks = 100;  // not what drops them here
    this->reload_settings();
    const int quick = 200;  // turns: far less than 10 s
    // Accepted in one turn: the first two are too young to be displaced (their
    // heads might be on the way), so the third is on probation without a
    // slot; it sends nothing and gets 503 when the probation (100-200 ms) ends.
    int oldest = this->connect_raw();
    int second = this->connect_raw();
    int young = this->connect_raw();
    this->spin(1);
    EXPECT_EQ(this->loop_->handshakes_in_progress(), 2u);
    EXPECT_EQ(this->receive(young, 12, 5000).substr(0, 12), "HTTP/1.1 503");
    this->age_handshakes();
    // At --max-handshakes: the newcomer takes the oldest's place.
    int ws1 = this->upgraded_client();
    EXPECT_EQ(this->receive(oldest, 12, quick).substr(0, 12), "HTTP/1.1 408");
    int third = this->connect_client();
    this->age_handshakes();
    // At --max-connections (second, ws1, third): the oldest handshake again.
    int ws2 = this->upgraded_client();
    EXPECT_EQ(this->receive(second, 12, quick).substr(0, 12), "HTTP/1.1 408");
    this->send_all(third, kUpgrade);
    EXPECT_EQ(this->receive(third, 12, quick).substr(0, 12), "HTTP/1.1 101");
    EXPECT_EQ(this->loop_->handshakes_in_progress(), 0u);
    // Three established connections fill --max-connections: nothing to displace.
    int late = this->connect_client();
    EXPECT_EQ(this->receive(late, 12, quick).substr(0, 12), "HTTP/1.1 503");
    for (int ws : {ws1, ws2}) {
        this->send_all(ws, masked_frame(0x81, "up"));
        EXPECT_EQ(this->receive(ws, 4), std::string("\x81\x02up", 4));
    }
}

// A burst of newcomers leaves no handshake old enough to displace: one whose
// head is complete at once is still served (probation), the others keep
// their slots.
TYPED_TEST(ServerLoopTest, CompleteHeadOnProbationIsServedInABurst) {
    this->settings_.max_handshakes = 2;
    this->settings_.busy_handshake_timeout_ticks = 100;
    this->reload_settings();
    int a = this->connect_raw();
    int b = this->connect_raw();
    int fast = this->connect_raw();
    this->send_all(fast, kUpgrade);
    this->spin(1);
    std::string head = this->receive(fast, 129, 200);
    EXPECT_EQ(head.substr(0, 12), "HTTP/1.1 101") << head;
    EXPECT_EQ(this->loop_->handshakes_in_progress(), 2u);
    this->send_all(fast, masked_frame(0x81, "up"));
    EXPECT_EQ(this->receive(fast, 4), std::string("\x81\x02up", 4));
    for (int fd : {a, b}) {
        this->send_all(fd, kUpgrade);
        EXPECT_EQ(this->receive(fd, 12, 200).substr(0, 12), "HTTP/1.1 101");
    }
}

// A head sent in part and left unfinished goes first, however young, and
// before an older connection that has sent nothing yet.
TYPED_TEST(ServerLoopTest, PartialHeadIsDisplacedBeforeASilentOne) {
    this->settings_.max_handshakes = 2;
    this->settings_.busy_handshake_timeout_ticks = 100;
    this->reload_settings();
    const int quick = 200;
    int silent = this->connect_client();
    int partial = this->connect_client();
    this->send_all(partial, std::string(kUpgrade).substr(0, 20));
    this->spin(3);
    int ws = this->upgraded_client();
    EXPECT_EQ(this->receive(partial, 12, quick).substr(0, 12), "HTTP/1.1 408");
    this->send_all(silent, kUpgrade);
    EXPECT_EQ(this->receive(silent, 12, quick).substr(0, 12), "HTTP/1.1 101");
    this->send_all(ws, masked_frame(0x81, "up"));
    EXPECT_EQ(this->receive(ws, 4), std::string("\x81\x02up", 4));
}

TYPED_TEST(ServerLoopTest, AddressOverItsHandshakeCapGets429) {
    this->settings_.max_handshakes_per_peer = 1;
    this->reload_settings();
    int held = this->connect_client();
    int over = this->connect_client();
    EXPECT_EQ(this->receive(over, 12).substr(0, 12), "HTTP/1.1 429");
    EXPECT_EQ(this->loop_->handshakes_in_progress(), 1u);
    // Once its handshake is done the address may start another.
    this->send_all(held, kUpgrade);
    EXPECT_EQ(this->receive(held, 12).substr(0, 12), "HTTP/1.1 101");
    this->upgraded_client();
}

TYPED_TEST(ServerLoopTest, UnderPressureSlowHandshakesGetTheBusyDeadline) {
    this->settings_.max_handshakes = 2;
    this->settings_.busy_handshake_timeout_ticks = 2;  // handshake timeout stays 10 s
    this->reload_settings();
    int a = this->connect_client();
    int b = this->connect_client();  // 2 of 2: more than half in progress
    std::string ra = this->receive(a, 12, 5000);
    std::string rb = this->receive(b, 12, 5000);
    EXPECT_EQ(ra.substr(0, 12), "HTTP/1.1 408");
    EXPECT_EQ(rb.substr(0, 12), "HTTP/1.1 408");
    EXPECT_EQ(this->loop_->handshakes_in_progress(), 0u);
}
