// RedisLink against a real redis-server the test starts on a free loopback
// port, on both backends: pipelined commands answered in order, AUTH and
// SELECT, pub/sub pushes, a killed server (pending commands fail, the link
// comes back with backoff once it restarts), a frozen one (the command
// timeout fires, the link recovers after SIGCONT), a reply over the cap and
// a malformed one (the link closes with one log line), a full pipeline.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "broker/redis_link.hpp"
#include "loop_fixture.hpp"
#include "quiet_websocket_app.hpp"
#include "redis_server.hpp"
#include "ws/stream_application.hpp"

namespace {

using wsgate::broker::LinkEvents;
using wsgate::broker::RedisLink;
using wsgate::broker::RedisLinkSettings;
using wsgate::broker::RespType;
using wsgate::broker::RespValue;
using wsgate::ws::ConnectionHandle;

// Replies as text, in the order they came; "lost" for a null reply.
struct Recorder {
    std::vector<std::string> replies;
    std::vector<std::string> pushes;
    int ups = 0;
    int downs = 0;

    static void reply(void* self, uint64_t, const RespValue* v) {
        auto* r = static_cast<Recorder*>(self);
        if (v == nullptr) {
            r->replies.push_back("lost");
        } else if (v->type == RespType::integer) {
            r->replies.push_back(std::to_string(v->integer));
        } else if (v->type == RespType::nil) {
            r->replies.push_back("nil");
        } else if (v->type == RespType::array) {
            r->replies.push_back("array " + std::to_string(v->count));
        } else {
            r->replies.push_back(std::string(v->is_error() ? "-" : "") + std::string(v->text));
        }
    }
    static void up(void* self) { ++static_cast<Recorder*>(self)->ups; }
    static void down(void* self) { ++static_cast<Recorder*>(self)->downs; }
    static void push(void* self, const RespValue& m) {
        static_cast<Recorder*>(self)->pushes.push_back(std::string(m[1].text) + "=" +
                                                       std::string(m[2].text));
    }
    LinkEvents events(bool subscriber) {
        return LinkEvents{this, &up, &down, subscriber ? &push : nullptr};
    }
};

// The links live in the app, as the hub's do; the loop drives them.
struct LinkApp : wsgate::test::QuietWebSocketApp {
    std::vector<RedisLink*> links;

    template <class Loop>
    wsgate::ws::HttpAnswer on_http_request(Loop&, ConnectionHandle,
                                           const wsgate::proto::HttpRequest&,
                                           std::span<const uint8_t>, bool, wsgate::ws::Outbound&) {
        return wsgate::ws::HttpAnswer::now;
    }
    template <class Loop>
    void on_connected(Loop& loop, ConnectionHandle h) {
        for (RedisLink* l : links)
            l->on_connected(loop, h);
    }
    template <class Loop>
    size_t on_stream_data(Loop& loop, ConnectionHandle h, std::span<uint8_t> bytes) {
        for (RedisLink* l : links) {
            if (l->owns(h)) return l->on_data(loop, h, bytes);
        }
        return bytes.size();
    }
    template <class Loop>
    void on_stream_drained(Loop& loop, ConnectionHandle h) {
        for (RedisLink* l : links)
            l->on_drained(loop, h);
    }
    template <class Loop>
    void on_stream_end(Loop& loop, ConnectionHandle h, int error) {
        for (RedisLink* l : links)
            l->on_end(loop, h, error);
    }
    template <class Loop>
    void on_turn_end(Loop& loop, int64_t now_ms) {
        for (RedisLink* l : links)
            l->tick(loop, now_ms);
    }
    int ms_until_due(int64_t now_ms) const {
        int due = 1000;
        for (RedisLink* l : links)
            due = std::min(due, l->ms_until_due(now_ms));
        return due;
    }
};

template <class B>
class RedisLinkTest : public wsgate::test::LoopFixture<B, LinkApp> {
  protected:
    void configure(wsgate::ws::LoopSettings& s) override { s.max_outbound = 16; }
    void SetUp() override {
        if (!wsgate::test::redis_server_available()) GTEST_SKIP() << "redis-server not installed";
        wsgate::test::LoopFixture<B, LinkApp>::SetUp();
    }
    void TearDown() override {
        for (auto& l : owned_)
            l->stop(*this->loop_);
        this->spin(5);
        this->app_.links.clear();
        wsgate::test::LoopFixture<B, LinkApp>::TearDown();
    }
    RedisLinkSettings settings_for(uint16_t port) {
        RedisLinkSettings s;
        s.endpoint = *wsgate::io::parse_endpoint("127.0.0.1:" + std::to_string(port));
        s.command_timeout_ms = 300;
        s.keepalive_ms = 200;
        s.backoff_min_ms = 20;
        s.backoff_max_ms = 200;
        return s;
    }
    RedisLink& link(const RedisLinkSettings& s, Recorder& rec, bool subscriber = false) {
        owned_.push_back(std::make_unique<RedisLink>(s, "test", rec.events(subscriber), 7));
        this->app_.links.push_back(owned_.back().get());
        return *owned_.back();
    }
    template <class Pred>
    bool spin_until(Pred pred, int ms = 5000) {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (!pred()) {
            if (std::chrono::steady_clock::now() > end) return false;
            this->spin(1);
        }
        return true;
    }
    // Recorders outlive the test body: TearDown's stop() still reports to them.
    Recorder& recorder() { return recorders_.emplace_back(); }
    std::deque<Recorder> recorders_;
    std::vector<std::unique_ptr<RedisLink>> owned_;
};
TYPED_TEST_SUITE(RedisLinkTest, wsgate::test::LoopBackends);

TYPED_TEST(RedisLinkTest, PipelinedCommandsAreAnsweredInOrder) {
    wsgate::test::RedisServer redis;
    ASSERT_TRUE(redis.start());
    RedisLinkSettings s = this->settings_for(redis.port());
    Recorder& rec = this->recorder();
    RedisLink& l = this->link(s, rec);
    ASSERT_TRUE(this->spin_until([&] { return l.up(); }));
    EXPECT_EQ(rec.ups, 1);
    // 1000 commands queued in one turn go out in one pipeline.
    for (int i = 0; i < 1000; ++i)
        ASSERT_TRUE(l.send(&Recorder::reply, &rec, 0, "INCR", "n"));
    ASSERT_TRUE(l.send(&Recorder::reply, &rec, 0, "GET", "missing"));
    ASSERT_TRUE(l.send(&Recorder::reply, &rec, 0, "NOSUCHCOMMAND"));
    ASSERT_TRUE(this->spin_until([&] { return rec.replies.size() == 1002; }));
    for (int i = 0; i < 1000; ++i)
        ASSERT_EQ(rec.replies[i], std::to_string(i + 1));
    EXPECT_EQ(rec.replies[1000], "nil");
    EXPECT_EQ(rec.replies[1001].rfind("-ERR unknown command", 0), 0u) << rec.replies[1001];
    EXPECT_TRUE(l.up());  // an error reply is an answer, not a failure
    EXPECT_EQ(l.pending(), 0u);
}

TYPED_TEST(RedisLinkTest, AuthAndSelectBeforeUp) {
    wsgate::test::RedisServer redis({"--requirepass", "s3cret"});
    ASSERT_TRUE(redis.start());
    RedisLinkSettings in3 = this->settings_for(redis.port());
    in3.password = "s3cret";
    in3.db = 3;
    RedisLinkSettings in0 = in3;
    in0.db = 0;
    RedisLinkSettings wrong = in3;
    wrong.password = "nope";
    Recorder& r3 = this->recorder();
    Recorder& r0 = this->recorder();
    Recorder& rw = this->recorder();
    RedisLink& l3 = this->link(in3, r3);
    RedisLink& l0 = this->link(in0, r0);
    RedisLink& lw = this->link(wrong, rw);
    ASSERT_TRUE(this->spin_until([&] { return l3.up() && l0.up(); }));
    ASSERT_TRUE(l3.send(&Recorder::reply, &r3, 0, "SET", "k", "in db 3"));
    ASSERT_TRUE(this->spin_until([&] { return r3.replies.size() == 1; }));
    ASSERT_TRUE(l0.send(&Recorder::reply, &r0, 0, "GET", "k"));
    ASSERT_TRUE(l3.send(&Recorder::reply, &r3, 0, "GET", "k"));
    ASSERT_TRUE(this->spin_until([&] { return r0.replies.size() == 1 && r3.replies.size() == 2; }));
    EXPECT_EQ(r0.replies[0], "nil");
    EXPECT_EQ(r3.replies[1], "in db 3");
    // The wrong password: never up, refused commands, the server's reason.
    this->spin_until([&] { return false; }, 300);
    EXPECT_FALSE(lw.up());
    EXPECT_EQ(rw.ups, 0);
    EXPECT_NE(lw.last_error().find("WRONGPASS"), std::string::npos) << lw.last_error();
    EXPECT_FALSE(lw.send(&Recorder::reply, &rw, 0, "PING"));
}

TYPED_TEST(RedisLinkTest, SubscriberLinkGetsPushes) {
    wsgate::test::RedisServer redis;
    ASSERT_TRUE(redis.start());
    RedisLinkSettings s = this->settings_for(redis.port());
    Recorder& sub = this->recorder();
    Recorder& pub = this->recorder();
    RedisLink& ls = this->link(s, sub, true);
    RedisLink& lp = this->link(s, pub);
    ASSERT_TRUE(this->spin_until([&] { return ls.up() && lp.up(); }));
    ASSERT_TRUE(ls.send(&Recorder::reply, &sub, 0, "SUBSCRIBE", "ch"));
    ASSERT_TRUE(this->spin_until([&] { return sub.replies.size() == 1; }));
    EXPECT_EQ(sub.replies[0], "array 3");  // subscribe, ch, 1
    for (int i = 0; i < 50; ++i)
        ASSERT_TRUE(lp.send(&Recorder::reply, &pub, 0, "PUBLISH", "ch", i));
    ASSERT_TRUE(this->spin_until([&] { return sub.pushes.size() == 50; }));
    for (int i = 0; i < 50; ++i)
        EXPECT_EQ(sub.pushes[i], "ch=" + std::to_string(i));
    // Keepalive PINGs in subscribe mode are answered too (an array): the
    // link stays up while idle.
    this->spin_until([&] { return false; }, 700);
    EXPECT_TRUE(ls.up());
    EXPECT_EQ(sub.ups, 1);
}

TYPED_TEST(RedisLinkTest, KilledServerFailsPendingAndLinkReturnsAfterRestart) {
    wsgate::test::RedisServer redis;
    ASSERT_TRUE(redis.start());
    RedisLinkSettings s = this->settings_for(redis.port());
    Recorder& rec = this->recorder();
    RedisLink& l = this->link(s, rec);
    ASSERT_TRUE(this->spin_until([&] { return l.up(); }));
    redis.freeze();  // so these stay unanswered until the kill
    for (int i = 0; i < 10; ++i)
        ASSERT_TRUE(l.send(&Recorder::reply, &rec, 0, "INCR", "n"));
    this->spin(3);
    redis.kill_now();
    ASSERT_TRUE(this->spin_until([&] { return rec.replies.size() == 10; }));
    for (const std::string& r : rec.replies)
        EXPECT_EQ(r, "lost");
    EXPECT_EQ(rec.downs, 1);
    EXPECT_FALSE(l.up());
    EXPECT_FALSE(l.send(&Recorder::reply, &rec, 0, "PING"));  // fails fast while down
    // Down for a while: attempts back off (several refused connects, one line).
    this->spin_until([&] { return false; }, 400);
    ASSERT_TRUE(redis.start());  // the same port
    ASSERT_TRUE(this->spin_until([&] { return l.up(); }));
    EXPECT_EQ(rec.ups, 2);
    ASSERT_TRUE(l.send(&Recorder::reply, &rec, 0, "INCR", "n"));
    ASSERT_TRUE(this->spin_until([&] { return rec.replies.size() == 11; }));
    EXPECT_EQ(rec.replies[10], "1");  // a fresh server (no persistence)
}

TYPED_TEST(RedisLinkTest, FrozenServerTimesOutThenRecovers) {
    wsgate::test::RedisServer redis;
    ASSERT_TRUE(redis.start());
    RedisLinkSettings s = this->settings_for(redis.port());
    Recorder& rec = this->recorder();
    RedisLink& l = this->link(s, rec);
    ASSERT_TRUE(this->spin_until([&] { return l.up(); }));
    redis.freeze();
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(l.send(&Recorder::reply, &rec, 0, "PING"));
    ASSERT_TRUE(this->spin_until([&] { return rec.replies.size() == 1; }, 3000));
    auto waited =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    EXPECT_EQ(rec.replies[0], "lost");
    EXPECT_GE(waited, 250);  // command timeout 300 ms (the wheel's tick of slack)
    EXPECT_LT(waited, 1500);
    EXPECT_EQ(l.last_error(), "command timed out");
    // Reconnects accept (the kernel still completes TCP handshakes), but the
    // handshake's PING times out: the link stays down while frozen.
    this->spin_until([&] { return false; }, 800);
    EXPECT_FALSE(l.up());
    EXPECT_EQ(rec.ups, 1);
    redis.thaw();
    ASSERT_TRUE(this->spin_until([&] { return l.up(); }));
    ASSERT_TRUE(l.send(&Recorder::reply, &rec, 0, "PING"));
    ASSERT_TRUE(this->spin_until([&] { return rec.replies.size() == 2; }));
    EXPECT_EQ(rec.replies[1], "PONG");
}

TYPED_TEST(RedisLinkTest, ReplyOverTheCapClosesTheLink) {
    wsgate::test::RedisServer redis;
    ASSERT_TRUE(redis.start());
    RedisLinkSettings s = this->settings_for(redis.port());
    s.max_reply_bytes = 64 * 1024;
    Recorder& rec = this->recorder();
    RedisLink& l = this->link(s, rec);
    ASSERT_TRUE(this->spin_until([&] { return l.up(); }));
    std::string big(1 << 20, 'x');
    ASSERT_TRUE(l.send(&Recorder::reply, &rec, 0, "SET", "big", big));
    ASSERT_TRUE(l.send(&Recorder::reply, &rec, 0, "GET", "big"));
    ASSERT_TRUE(this->spin_until([&] { return rec.replies.size() == 2; }));
    EXPECT_EQ(rec.replies[0], "OK");
    EXPECT_EQ(rec.replies[1], "lost");
    EXPECT_EQ(l.last_error(), "reply larger than the limit");
    ASSERT_TRUE(this->spin_until([&] { return l.up(); }));  // and it comes back
}

TYPED_TEST(RedisLinkTest, MalformedReplyClosesTheLink) {
    // A fake server: answers the handshake's PING with garbage.
    int lst = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(lst, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(listen(lst, 4), 0);
    socklen_t len = sizeof(a);
    getsockname(lst, reinterpret_cast<sockaddr*>(&a), &len);
    this->clients_.push_back(lst);
    RedisLinkSettings s = this->settings_for(ntohs(a.sin_port));
    Recorder& rec = this->recorder();
    RedisLink& l = this->link(s, rec);
    int peer = -1;
    ASSERT_TRUE(this->spin_until([&] {
        peer = accept4(lst, nullptr, nullptr, SOCK_NONBLOCK);
        return peer >= 0;
    }));
    this->clients_.push_back(peer);
    this->send_all(peer, "!garbage\r\n");
    ASSERT_TRUE(this->spin_until([&] { return !l.last_error().empty(); }));
    EXPECT_NE(l.last_error().find("Protocol error"), std::string::npos) << l.last_error();
    EXPECT_FALSE(l.up());
    EXPECT_EQ(rec.ups, 0);
}

TYPED_TEST(RedisLinkTest, FullPipelineRefusesInsteadOfGrowing) {
    wsgate::test::RedisServer redis;
    ASSERT_TRUE(redis.start());
    RedisLinkSettings s = this->settings_for(redis.port());
    s.max_pending = 100;
    Recorder& rec = this->recorder();
    RedisLink& l = this->link(s, rec);
    ASSERT_TRUE(this->spin_until([&] { return l.up(); }));
    int accepted = 0;
    for (int i = 0; i < 150; ++i)
        accepted += l.send(&Recorder::reply, &rec, 0, "PING") ? 1 : 0;
    EXPECT_EQ(accepted, 100);
    ASSERT_TRUE(this->spin_until([&] { return rec.replies.size() == 100; }));
    EXPECT_TRUE(l.send(&Recorder::reply, &rec, 0, "PING"));  // room again
}

}  // namespace
