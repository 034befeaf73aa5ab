// A whole server loop in-process, on one backend, driven turn by turn from
// the test thread (no threads, no timing races), with raw non-blocking
// loopback clients. Typed over the backend (UseUring / UseEpoll) and the
// application under test.
#pragma once

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

namespace wsgate::test {

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

inline constexpr const char* kUpgradeRequest =
    "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
// The 101 answering kUpgradeRequest without extensions.
inline constexpr size_t kUpgradeResponseBytes = 129;

// A client frame: first byte (FIN + opcode), masked payload (RFC 6455 §5.3).
inline std::string masked_frame(uint8_t first_byte, const std::string& payload) {
    std::string f;
    f += static_cast<char>(first_byte);
    const uint8_t mask_bit = 0x80;
    if (payload.size() < 126) {
        f += static_cast<char>(mask_bit | payload.size());
    } else if (payload.size() < 65536) {
        f += static_cast<char>(mask_bit | 126);
        f += static_cast<char>(payload.size() >> 8);
        f += static_cast<char>(payload.size() & 0xFF);
    } else {
        f += static_cast<char>(mask_bit | 127);
        for (int i = 7; i >= 0; --i)
            f += static_cast<char>((payload.size() >> (8 * i)) & 0xFF);
    }
    const char key[4] = {0x11, 0x22, 0x33, 0x44};
    f.append(key, 4);
    for (size_t i = 0; i < payload.size(); ++i)
        f += static_cast<char>(payload[i] ^ key[i % 4]);
    return f;
}

template <class B, class App>
class LoopFixture : public ::testing::Test {
  protected:
    using Loop = wsgate::ws::ServerLoop<B::template Backend, App>;

    // Settings beyond the defaults below, before the loop is made.
    virtual void configure(wsgate::ws::LoopSettings&) {}

    void SetUp() override {
        if (B::kUring) {
            int err = 0;
            if (!wsgate::io::probe_io_uring(&err)) GTEST_SKIP() << "io_uring unavailable";
        }
        settings_.backend.recv_buffer_count = 64;
        configure(settings_);
        ASSERT_EQ(inbox_.open(), 0);
        auto ep = wsgate::io::parse_endpoint("127.0.0.1:0");
        listener_ = wsgate::io::open_listener(*ep, 64);
        ASSERT_GE(listener_, 0);
        endpoint_ = wsgate::io::local_endpoint(listener_);
        loop_.emplace(settings_, shared_, app_, inbox_);
        ASSERT_EQ(loop_->init(std::span<const int>(&listener_, 1)), 0);
    }
    void TearDown() override {
        for (int fd : clients_)
            close(fd);
        loop_.reset();
        if (listener_ >= 0) close(listener_);
    }
    // A client the loop has had a few turns to accept.
    int connect_client() {
        int fd = connect_raw();
        spin(3);
        return fd;
    }
    // Connected (the kernel completes the TCP handshake), not accepted yet.
    int connect_raw() {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fd, reinterpret_cast<const sockaddr*>(&endpoint_.addr), endpoint_.len);
        clients_.push_back(fd);
        return fd;
    }
    // A client whose WebSocket upgrade went through (101 with the key's
    // accept value, RFC 6455 §4.2.2).
    int upgraded_client() {
        int fd = connect_client();
        send_all(fd, kUpgradeRequest);
        std::string head = receive(fd, kUpgradeResponseBytes);
        EXPECT_EQ(head.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << head;
        EXPECT_NE(head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
                  std::string::npos)
            << head;
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

    wsgate::ws::LoopSettings settings_;
    wsgate::ws::LoopShared shared_;
    App app_;
    wsgate::ws::LoopInbox inbox_{64};
    int listener_ = -1;
    wsgate::io::Endpoint endpoint_;
    std::optional<Loop> loop_;
    std::vector<int> clients_;
};

using LoopBackends = ::testing::Types<UseUring, UseEpoll>;

}  // namespace wsgate::test
