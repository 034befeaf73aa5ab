// The application interface (ws/application.hpp) through the whole loop, on
// both backends: on_open / on_message_piece / on_close with handles, one
// word of state per connection, and sends to *other* connections of the
// loop, including one shared frame queued on many connections.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "io/msg_ring.hpp"
#include "io/shared_bytes.hpp"
#include "io/user_data.hpp"
#include "loop_fixture.hpp"
#include "ws/shared_frame.hpp"

namespace {

using wsgate::io::SharedBytes;
using wsgate::proto::Opcode;
using wsgate::test::masked_frame;
using wsgate::ws::ConnectionHandle;
using wsgate::ws::SendResult;

// Text commands: "all:X" sends X to every open connection as one shared
// frame; "state" answers the sender's app_state; "close:N" closes the N-th
// connection opened (code 4001); "to:N:X" sends X to the N-th connection.
struct HubApp {
    std::vector<ConnectionHandle> opened;  // in open order, never removed
    std::vector<std::pair<ConnectionHandle, uint16_t>> closed;
    std::vector<SendResult> results;
    std::string message;
    size_t messages = 0;  // complete messages handled
    size_t frames_built = 0;

    template <class Loop>
    void on_open(Loop& loop, ConnectionHandle h) {
        uint64_t* state = loop.app_state(h);
        ASSERT_NE(state, nullptr);
        EXPECT_EQ(*state, 0u);
        opened.push_back(h);
        *state = 1000 + opened.size();
    }
    template <class Loop>
    void on_message_piece(Loop& loop, ConnectionHandle h, wsgate::ws::Outbound&, Opcode,
                          std::span<const uint8_t> piece, bool last) {
        message.append(reinterpret_cast<const char*>(piece.data()), piece.size());
        if (!last) return;
        std::string m = std::move(message);
        message.clear();
        results.clear();
        ++messages;
        if (m.rfind("all:", 0) == 0) {
            std::string text = m.substr(4);
            wsgate::io::SharedBytesRef frame = wsgate::ws::make_shared_frame(
                Opcode::text, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
            ++frames_built;
            for (ConnectionHandle to : opened)
                results.push_back(loop.send_frame(to, *frame.get()));
        } else if (m == "state") {
            std::string s = std::to_string(*loop.app_state(h));
            results.push_back(loop.send_message(
                h, Opcode::text, {reinterpret_cast<const uint8_t*>(s.data()), s.size()}));
        } else if (m.rfind("close:", 0) == 0) {
            size_t n = std::stoul(m.substr(6));
            results.push_back(loop.close(opened.at(n), 4001, "bye") ? SendResult::queued
                                                                    : SendResult::gone);
        } else if (m.rfind("to:", 0) == 0) {
            size_t colon = m.find(':', 3);
            size_t n = std::stoul(m.substr(3, colon - 3));
            std::string text = m.substr(colon + 1);
            results.push_back(
                loop.send_message(opened.at(n), Opcode::binary,
                                  {reinterpret_cast<const uint8_t*>(text.data()), text.size()}));
        }
    }
    // Another thread's message: tag 1 sends `word` as text to everyone.
    size_t inbox_messages = 0;
    template <class Loop>
    void on_inbox_message(Loop& loop, const wsgate::ws::LoopMessage& m) {
        ++inbox_messages;
        if (m.tag != 1) return;
        std::string text = std::to_string(m.word);
        wsgate::io::SharedBytesRef frame = wsgate::ws::make_shared_frame(
            Opcode::text, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
        for (ConnectionHandle to : opened)
            loop.send_frame(to, *frame.get());
    }
    template <class Loop>
    void on_close(Loop& loop, ConnectionHandle h, uint16_t code) {
        // The state word is still readable (to free what it names), sends are refused.
        ASSERT_NE(loop.app_state(h), nullptr);
        EXPECT_EQ(loop.send_message(h, Opcode::text, {}), wsgate::ws::SendResult::gone);
        closed.emplace_back(h, code);
    }
    template <class Loop>
    wsgate::ws::HttpAnswer on_http_request(Loop&, ConnectionHandle,
                                           const wsgate::proto::HttpRequest&,
                                           std::span<const uint8_t>, bool,
                                           wsgate::ws::Outbound& out) {
        out.send_raw("HTTP/1.1 204 No Content\r\n\r\n");
        return wsgate::ws::HttpAnswer::now;
    }
};

std::string text_frame(const std::string& payload) {
    return std::string(1, '\x81') + static_cast<char>(payload.size()) + payload;
}

template <class B>
class ReactorAppTest : public wsgate::test::LoopFixture<B, HubApp> {
  protected:
    // Clients 0..n-1, each opened in order (the app's opened[i] is client i).
    std::vector<int> open_clients(size_t n) {
        std::vector<int> fds;
        for (size_t i = 0; i < n; ++i)
            fds.push_back(this->upgraded_client());
        EXPECT_EQ(this->app_.opened.size(), n);
        return fds;
    }
    // Sends a command and turns the loop until the app has handled it.
    void command(int fd, const std::string& text) {
        size_t before = this->app_.messages;
        this->send_all(fd, masked_frame(0x81, text));
        for (int i = 0; i < 2000 && this->app_.messages == before; ++i)
            this->spin(1);
        ASSERT_EQ(this->app_.messages, before + 1) << text;
    }
};
TYPED_TEST_SUITE(ReactorAppTest, wsgate::test::LoopBackends);

TYPED_TEST(ReactorAppTest, OneSharedFrameReachesEveryConnection) {
    const size_t live_before = SharedBytes::live_on_this_thread();
    std::vector<int> fds = this->open_clients(5);
    this->command(fds[2], "all:hello everyone");
    EXPECT_EQ(this->app_.frames_built, 1u);
    EXPECT_EQ(this->app_.results, std::vector<SendResult>(5, SendResult::queued));
    for (int fd : fds)
        EXPECT_EQ(this->receive(fd, text_frame("hello everyone").size()),
                  text_frame("hello everyone"));
    // Sent everywhere: the one buffer is gone.
    EXPECT_EQ(SharedBytes::live_on_this_thread(), live_before);
}

TYPED_TEST(ReactorAppTest, EachConnectionKeepsItsOwnWordOfState) {
    std::vector<int> fds = this->open_clients(3);
    for (size_t i = 0; i < fds.size(); ++i) {
        this->command(fds[i], "state");
        EXPECT_EQ(this->receive(fds[i], 6), text_frame(std::to_string(1001 + i)));
    }
}

TYPED_TEST(ReactorAppTest, SendToAnotherConnection) {
    std::vector<int> fds = this->open_clients(3);
    this->command(fds[0], "to:2:psst");
    EXPECT_EQ(this->app_.results, std::vector<SendResult>{SendResult::queued});
    EXPECT_EQ(this->receive(fds[2], 6), std::string("\x82\x04psst", 6));
    EXPECT_EQ(this->receive(fds[1], 1, 20), "");  // nobody else
}

TYPED_TEST(ReactorAppTest, StaleHandlesAreGoneEvenWhenTheSlotIsReused) {
    std::vector<int> fds = this->open_clients(3);
    // Client 1 closes with 4000: the app hears the peer's code.
    this->send_all(fds[1], masked_frame(0x88, std::string("\x0f\xa0", 2)));
    std::string echoed = this->receive(fds[1], 4);
    EXPECT_EQ(echoed, std::string("\x88\x02\x0f\xa0", 4));
    close(fds[1]);
    this->spin(10);
    ASSERT_EQ(this->app_.closed.size(), 1u);
    EXPECT_EQ(this->app_.closed[0].first, this->app_.opened[1]);
    EXPECT_EQ(this->app_.closed[0].second, 4000);
    // A new client takes the freed slot; the old handle must not reach it.
    int fresh = this->upgraded_client();
    ASSERT_EQ(this->app_.opened.size(), 4u);
    EXPECT_EQ(this->app_.opened[3].index(), this->app_.opened[1].index());
    EXPECT_NE(this->app_.opened[3], this->app_.opened[1]);
    this->command(fds[0], "to:1:lost");
    EXPECT_EQ(this->app_.results, std::vector<SendResult>{SendResult::gone});
    this->command(fds[0], "close:1");
    EXPECT_EQ(this->app_.results, std::vector<SendResult>{SendResult::gone});
    EXPECT_EQ(this->receive(fresh, 1, 20), "");
    this->command(fds[0], "all:x");
    EXPECT_EQ(this->app_.results,
              (std::vector<SendResult>{SendResult::queued, SendResult::gone, SendResult::queued,
                                       SendResult::queued}));
    EXPECT_EQ(this->receive(fresh, 3), text_frame("x"));
}

TYPED_TEST(ReactorAppTest, ServerCloseAndDroppedConnectionReportTheirCodes) {
    std::vector<int> fds = this->open_clients(3);
    this->command(fds[0], "close:1");
    // Client 1 gets close 4001 "bye" and answers with an empty close.
    std::string got = this->receive(fds[1], 7);
    EXPECT_EQ(got, std::string("\x88\x05\x0f\xa1"
                               "bye",
                               7));
    this->send_all(fds[1], masked_frame(0x88, ""));
    this->spin(3);
    close(fds[1]);
    // Client 2 vanishes without a close frame.
    close(fds[2]);
    for (int i = 0; i < 200 && this->app_.closed.size() < 2; ++i)
        this->spin(1);
    ASSERT_EQ(this->app_.closed.size(), 2u);
    for (auto [h, code] : this->app_.closed) {
        if (h == this->app_.opened[1]) {
            // The app hears of the end when the server's close goes out:
            // the server's code (the peer's answer is not awaited).
            EXPECT_EQ(code, 4001);
        } else {
            EXPECT_EQ(h, this->app_.opened[2]);
            EXPECT_EQ(code, 1006);  // no close frame at all
        }
    }
}

TYPED_TEST(ReactorAppTest, InboxMessageFromAnotherThreadReachesTheApp) {
    std::vector<int> fds = this->open_clients(2);
    std::thread producer([&] {
        wsgate::ws::LoopMessage m;
        m.tag = 1;
        m.word = 4242;
        ASSERT_TRUE(this->inbox_.post_and_signal(m));
    });
    producer.join();
    for (int i = 0; i < 200 && this->app_.inbox_messages == 0; ++i)
        this->spin(1);
    EXPECT_EQ(this->app_.inbox_messages, 1u);
    EXPECT_EQ(this->inbox_.wake().eventfd_wakes(), 1u);
    for (int fd : fds)
        EXPECT_EQ(this->receive(fd, 6), text_frame("4242"));
}

// Another io_uring loop wakes this one with IORING_OP_MSG_RING: the test
// thread plays that loop with a ring of its own.
TYPED_TEST(ReactorAppTest, MsgRingWakeFromAnotherRingReachesTheApp) {
    int target = this->inbox_.wake().ring_fd();
    if (!TypeParam::kUring) {
        EXPECT_EQ(target, -1);  // epoll: only the eventfd
        return;
    }
    if (target < 0) GTEST_SKIP() << "IORING_OP_MSG_RING unsupported (kernel < 5.18)";
    std::vector<int> fds = this->open_clients(1);
    io_uring sender{};
    ASSERT_EQ(io_uring_queue_init(4, &sender, 0), 0);
    for (uint64_t k = 0; k < 3; ++k) {
        wsgate::ws::LoopMessage m;
        m.tag = 1;
        m.word = 7 + k;
        wsgate::io::PostResult r = this->inbox_.post(m);
        ASSERT_NE(r, wsgate::io::PostResult::full);
        if (r == wsgate::io::PostResult::queued_wake_owed) {
            wsgate::io::prep_ring_wake(io_uring_get_sqe(&sender), target,
                                       wsgate::io::kRingWakeUserData, 0);
            io_uring_submit_and_wait(&sender, 1);
            io_uring_cqe* cqe = nullptr;
            ASSERT_EQ(io_uring_wait_cqe(&sender, &cqe), 0);
            EXPECT_GE(cqe->res, 0);
            io_uring_cqe_seen(&sender, cqe);
            this->inbox_.wake().count_ring_wake();
        }
    }
    io_uring_queue_exit(&sender);
    for (int i = 0; i < 200 && this->app_.inbox_messages < 3; ++i)
        this->spin(1);
    EXPECT_EQ(this->app_.inbox_messages, 3u);
    EXPECT_EQ(this->inbox_.wake().ring_wakes(), 1u);  // three posts, one wake
    EXPECT_EQ(this->inbox_.wake().eventfd_wakes(), 0u);
    EXPECT_EQ(this->receive(fds[0], 9), text_frame("7") + text_frame("8") + text_frame("9"));
    // The eventfd path still works after a ring wake (its read stays armed).
    wsgate::ws::LoopMessage m;
    m.tag = 1;
    m.word = 10;
    ASSERT_TRUE(this->inbox_.post_and_signal(m));
    EXPECT_EQ(this->receive(fds[0], 4), text_frame("10"));
}

TYPED_TEST(ReactorAppTest, ShutdownTravelsThroughTheInbox) {
    std::vector<int> fds = this->open_clients(2);
    wsgate::ws::LoopMessage stop;
    stop.kind = wsgate::ws::LoopMessageKind::shutdown;
    ASSERT_TRUE(this->inbox_.post_and_signal(stop));
    const std::string going_away = std::string("\x88\x16\x03\xe9", 4) + "server shutting down";
    for (int fd : fds) {
        EXPECT_EQ(this->receive(fd, going_away.size()), going_away);
        this->send_all(fd, masked_frame(0x88, std::string("\x03\xe9", 2)));
        this->spin(2);
        shutdown(fd, SHUT_WR);  // and the TCP close after the close frame (RFC 6455 §7.1.1)
    }
    for (int i = 0; i < 500 && !this->loop_->done(); ++i)
        this->spin(1);
    EXPECT_TRUE(this->loop_->done());
    EXPECT_EQ(this->app_.closed.size(), 2u);
    EXPECT_EQ(this->app_.inbox_messages, 0u);  // shutdown is the loop's, not the app's
}

// One loop posts to another (both on this thread, as loops of one process
// would be on two): io_uring loops wake each other with MSG_RING, epoll
// loops with the eventfd; three posts in one turn owe one wake.
TYPED_TEST(ReactorAppTest, OneLoopPostsToAnother) {
    HubApp other_app;
    wsgate::ws::LoopInbox other_inbox(64);
    ASSERT_EQ(other_inbox.open(), 0);
    using Loop = typename wsgate::test::LoopFixture<TypeParam, HubApp>::Loop;
    Loop other(this->settings_, this->shared_, other_app, other_inbox, 1);
    ASSERT_EQ(other.init({}), 0);
    for (uint64_t k = 0; k < 3; ++k) {
        wsgate::ws::LoopMessage m;
        m.tag = 2;
        m.word = k;
        ASSERT_TRUE(this->loop_->post_to(other_inbox, m));
    }
    this->spin(1);  // this loop's turn submits the wake
    for (int i = 0; i < 200 && other_app.inbox_messages < 3; ++i)
        other.turn(1);
    EXPECT_EQ(other_app.inbox_messages, 3u);
    const bool by_ring = TypeParam::kUring && other_inbox.wake().ring_fd() >= 0;
    EXPECT_EQ(other_inbox.wake().ring_wakes(), by_ring ? 1u : 0u);
    EXPECT_EQ(other_inbox.wake().eventfd_wakes(), by_ring ? 0u : 1u);
}

// A MSG_RING that the kernel refuses (the published descriptor is not a
// ring, as when a loop's ring went away) falls back to the eventfd.
TYPED_TEST(ReactorAppTest, FailedRingWakeFallsBackToTheEventfd) {
    if (!TypeParam::kUring || this->inbox_.wake().ring_fd() < 0) {
        GTEST_SKIP() << "needs io_uring with IORING_OP_MSG_RING";
    }
    HubApp other_app;
    wsgate::ws::LoopInbox other_inbox(64);
    ASSERT_EQ(other_inbox.open(), 0);
    using Loop = typename wsgate::test::LoopFixture<TypeParam, HubApp>::Loop;
    Loop other(this->settings_, this->shared_, other_app, other_inbox, 1);
    ASSERT_EQ(other.init({}), 0);
    other_inbox.wake().set_ring_fd(other_inbox.wake().event_fd());  // not an io_uring
    wsgate::ws::LoopMessage m;
    m.tag = 2;
    ASSERT_TRUE(this->loop_->post_to(other_inbox, m));
    this->spin(2);  // submit the MSG_RING, then reap its failure
    for (int i = 0; i < 200 && other_app.inbox_messages < 1; ++i)
        other.turn(1);
    EXPECT_EQ(other_app.inbox_messages, 1u);
    EXPECT_EQ(other_inbox.wake().ring_wakes(), 1u);     // tried
    EXPECT_EQ(other_inbox.wake().eventfd_wakes(), 1u);  // and fell back
}

}  // namespace
