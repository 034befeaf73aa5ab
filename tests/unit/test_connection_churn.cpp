// Connection churn through the whole server loop, in-process and driven
// turn by turn: connect, upgrade, close handshake, then the client closes
// right after the server's close frame (without waiting for its FIN), and
// the next client connects at once. With direct descriptors the next
// accept reuses the registered-file index the previous connection just
// freed (the kernel hands out the last freed index first), so any
// operation still queued for the old connection that resolves its fixed
// file late (IORING_OP_SHUTDOWN runs from io-wq and looks the index up
// only there) lands on the new connection: it gets a FIN before or right
// after its 101. Every cycle is checked; a cut connection is a failure.
//
// WSGATE_CHURN_CYCLES overrides the cycle count (default 20 000, ~1 s per
// backend). A backend that released the slot before its shutdown ran cut
// 8-43 of 20 000 connections in each of 10 runs (376 of 200 000).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "gateway/echo_app.hpp"
#include "loop_fixture.hpp"

namespace {

using wsgate::gateway::EchoApp;
using wsgate::ws::LoopSettings;

// The fixture's backends, each with and without direct descriptors where
// the backend has them.
struct UringDirect : wsgate::test::UseUring {
    static constexpr bool kDirect = true;
};
struct UringPlain : wsgate::test::UseUring {
    static constexpr bool kDirect = false;
};
struct Epoll : wsgate::test::UseEpoll {
    static constexpr bool kDirect = false;
};

constexpr std::string_view kUpgrade = wsgate::test::kUpgradeRequest;
// A masked close frame with code 1000 (RFC 6455 §5.5.1), key 0x11223344.
constexpr char kClientClose[] = {'\x88', '\x82', '\x11', '\x22', '\x33', '\x44', '\x12', '\xca'};
// The server's unmasked echo of it.
constexpr char kServerClose[] = {'\x88', '\x02', '\x03', '\xe8'};

constexpr int kTurnsPerStep = 2000;  // bound on loop turns while waiting for one answer

uint64_t cycles_to_run() {
    const char* env = std::getenv("WSGATE_CHURN_CYCLES");
    if (env != nullptr && *env != '\0') return std::strtoull(env, nullptr, 10);
    return 20000;
}

// How a cycle went wrong; each kind is counted separately.
enum class Cut { none, before_101, after_101, bad_bytes, stalled };

template <class B>
class ConnectionChurnTest : public wsgate::test::LoopFixture<B, EchoApp> {
  protected:
    using Base = wsgate::test::LoopFixture<B, EchoApp>;
    using Base::endpoint_;
    using Base::loop_;

    void configure(LoopSettings& s) override {
        s.backend.direct_descriptors = B::kDirect;
        s.deflate.enabled = false;
    }

    // Reads until `got` holds `want` bytes (or, with want == 0, a whole
    // HTTP head), turning the loop between reads. Returns the cut seen.
    Cut read_until(int fd, std::string& got, size_t want) {
        char buf[1024];
        auto done = [&] {
            return want == 0 ? got.find("\r\n\r\n") != std::string::npos : got.size() >= want;
        };
        for (int t = 0; t < kTurnsPerStep; ++t) {
            loop_->turn(1);
            for (;;) {
                // Stop at the answer: what follows it (the FIN) is no cut.
                if (done()) return Cut::none;
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n > 0) {
                    got.append(buf, static_cast<size_t>(n));
                    continue;
                }
                if (n == 0 || (errno != EAGAIN && errno != EINTR)) return Cut::before_101;
                break;
            }
        }
        return Cut::stalled;
    }

    // One connect / upgrade / close-handshake / close cycle.
    Cut cycle() {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return Cut::stalled;
        // Loopback connects complete inside connect(): the listener's
        // backlog takes the connection before the loop accepts it.
        if (connect(fd, reinterpret_cast<const sockaddr*>(&endpoint_.addr), endpoint_.len) != 0 ||
            send(fd, kUpgrade.data(), kUpgrade.size(), MSG_NOSIGNAL) !=
                static_cast<ssize_t>(kUpgrade.size())) {
            close(fd);
            return Cut::stalled;
        }
        std::string head;
        Cut cut = read_until(fd, head, 0);
        if (cut == Cut::none && head.rfind("HTTP/1.1 101 ", 0) != 0) cut = Cut::bad_bytes;
        if (cut == Cut::none) {
            const size_t head_len = head.find("\r\n\r\n") + 4;
            std::string rest = head.substr(head_len);
            if (send(fd, kClientClose, sizeof(kClientClose), MSG_NOSIGNAL) !=
                static_cast<ssize_t>(sizeof(kClientClose))) {
                cut = Cut::after_101;
            } else {
                cut = read_until(fd, rest, sizeof(kServerClose));
                if (cut == Cut::before_101) cut = Cut::after_101;
                if (cut == Cut::none && rest != std::string(kServerClose, sizeof(kServerClose)))
                    cut = Cut::bad_bytes;
            }
        }
        // Close at once, without waiting for the server's FIN, so the
        // server's half-close may still be on its way when the next
        // connection arrives.
        close(fd);
        loop_->turn(0);
        return cut;
    }

    void churn() {
        const uint64_t cycles = cycles_to_run();
        uint64_t counts[5] = {};
        for (uint64_t i = 0; i < cycles; ++i)
            ++counts[static_cast<int>(cycle())];
        // Let the last connections go, then nothing may be left behind.
        for (int t = 0; t < kTurnsPerStep && loop_->connection_count() != 0; ++t)
            loop_->turn(1);
        std::printf(
            "churn: %llu cycles: %llu clean, %llu cut before 101, %llu cut after 101, "
            "%llu wrong bytes, %llu stalled\n",
            static_cast<unsigned long long>(cycles), static_cast<unsigned long long>(counts[0]),
            static_cast<unsigned long long>(counts[1]), static_cast<unsigned long long>(counts[2]),
            static_cast<unsigned long long>(counts[3]), static_cast<unsigned long long>(counts[4]));
        EXPECT_EQ(counts[static_cast<int>(Cut::none)], cycles);
        EXPECT_EQ(loop_->connection_count(), 0u);
    }
};

using Backends = ::testing::Types<UringDirect, UringPlain, Epoll>;
TYPED_TEST_SUITE(ConnectionChurnTest, Backends);

TYPED_TEST(ConnectionChurnTest, EveryCycleCompletesItsHandshakes) {
    this->churn();
}

}  // namespace
