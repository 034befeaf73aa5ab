#include "client_loop.hpp"

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "client_codec.hpp"
#include "client_ring.hpp"
#include "compressed_frames.hpp"
#include "deflate_client.hpp"
#include "echo_reader.hpp"
#include "payload_pool.hpp"
#include "tls_client.hpp"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24  // linux/in.h; glibc 2.36 does not export it
#endif

namespace wsgate::bench {
namespace {

// Load modes stream data: larger buffers, fewer completions per message.
constexpr std::uint32_t kLoadBufferSize = 16384, kLoadBufferCount = 4096;
// Idle and connect modes only see handshakes and control frames.
constexpr std::uint32_t kSmallBufferSize = 2048, kSmallBufferCount = 1024;
constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
constexpr std::uint64_t kTickNs = 50'000'000;  // timers (pings, timeouts) checked this often
constexpr std::uint64_t kHandshakeTimeoutNs = 10 * kNsPerSecond;
constexpr std::uint64_t kCloseTimeoutNs =
    3 * kNsPerSecond;  // after kStop, per connection and overall
constexpr std::size_t kMaxHandshakeBytes = 16384;
constexpr std::size_t kInflateScratch = 16384;       // inflated bytes checked per step
constexpr std::size_t kTlsPlainScratch = 16384;      // one TLS record's plaintext at most
constexpr std::uint32_t kLoopbackBase = 0x7F000001;  // 127.0.0.1

enum class Op : std::uint8_t { kConnect = 1, kSend = 2, kRecv = 3 };

// user_data: operation, the connection slot's generation (so completions that
// arrive after a slot was closed and reused are recognised), and the slot.
constexpr std::uint64_t pack(Op op, std::uint16_t gen, std::uint32_t index) {
    return (std::uint64_t{static_cast<std::uint8_t>(op)} << 56) | (std::uint64_t{gen} << 32) |
           index;
}
constexpr Op op_of(std::uint64_t data) {
    return static_cast<Op>(data >> 56);
}
constexpr std::uint16_t gen_of(std::uint64_t data) {
    return static_cast<std::uint16_t>(data >> 32);
}
constexpr std::uint32_t index_of(std::uint64_t data) {
    return static_cast<std::uint32_t>(data);
}

std::uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * kNsPerSecond +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t cpu_ns() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto ns = [](const timeval& tv) {
        return static_cast<std::uint64_t>(tv.tv_sec) * kNsPerSecond +
               static_cast<std::uint64_t>(tv.tv_usec) * 1000;
    };
    return ns(ru.ru_utime) + ns(ru.ru_stime);
}

enum class ConnState : std::uint8_t { kUnused, kConnecting, kHandshaking, kOpen, kClosing, kDone };

struct InFlight {
    std::uint32_t variant = 0;
    std::uint64_t sent_ns = 0;
};

struct Handshake {
    std::string accept;
    std::string received;
};

struct Conn {
    int fd = -1;
    std::uint16_t gen = 0;
    ConnState state = ConnState::kUnused;
    bool was_up = false;
    bool send_busy = false;
    bool sending_control = false;
    bool close_sent = false;
    bool shut_write = false;
    bool idle_echo_pending = false;  // --idle-message: up, but its echo not yet verified
    std::uint8_t head = 0;           // in-flight FIFO: oldest entry
    std::uint8_t count = 0;          // entries queued (sent or not)
    std::uint8_t unsent = 0;         // of those, not yet fully written (the newest ones)
    std::uint32_t send_done = 0;
    std::uint32_t recv_pos = 0;  // raw mode: bytes of the oldest message verified so far
    std::uint64_t started_ns = 0;
    std::uint64_t deadline_ns = 0;  // handshake/close timeout; idle: next ping
    // permessage-deflate negotiated: messages go out from these frames (null: plain).
    const CompressedFrames* compressed = nullptr;
    EchoReader reader;
    std::unique_ptr<Handshake> handshake;
    std::string control_out;      // control frames (and the upgrade request) waiting
    std::string control_sending;  // the ones being written now
    // TLS: the session, when its handshake began, and the records being written
    // now (one plaintext unit - control frames, a message or a bare handshake
    // flight - encrypted whole, so a send completion still retires one unit).
    std::unique_ptr<TlsClientConn> tls;
    std::uint64_t tls_started_ns = 0;
    std::string tls_sending;
};

class Worker {
  public:
    Worker(const Options& o, const WorkerPlan& plan, const SharedControl& control,
           WorkerStats& stats)
        : o_(o),
          plan_(plan),
          control_(control),
          stats_(stats),
          framed_(o.mode != Mode::kRaw),
          pool_(o.payload_bytes, framed_, !o.binary, o.binary ? kOpBinary : kOpText,
                o.payload_kind),
          conns_(plan.count),
          in_flight_(sends() ? std::size_t{plan.count} * o.in_flight : 0) {
        if (o.deflate) {
            offer_value_ = deflate_offer_value(o.deflate_offer);
            inflate_scratch_.resize(kInflateScratch);
        }
        rng_ ^= std::uint64_t{plan.first_index} * 0x9E3779B97F4A7C15ull + 1;
        dst_.sin_family = AF_INET;
        dst_.sin_port = htons(o.target_port);
        dst_.sin_addr.s_addr = htonl(o.target_ip);
    }

    int run();

  private:
    bool loads() const { return o_.mode == Mode::kEcho || o_.mode == Mode::kRaw; }
    // Modes that send data messages: the loads, and idle with --idle-message.
    bool sends() const { return loads() || (o_.mode == Mode::kIdle && o_.idle_message); }
    bool setup_ring();
    io_uring_sqe* sqe();
    void enter_phase(Phase p);
    void open_more();
    void tick();
    void handle(const io_uring_cqe* cqe);

    void start_connect(std::uint32_t i);
    void on_connect(std::uint32_t i, int res);
    void on_send(std::uint32_t i, int res);
    void on_recv(std::uint32_t i, const io_uring_cqe* cqe);
    void arm_recv(std::uint32_t i);
    void flush_send(std::uint32_t i);
    void flush_send_tls(std::uint32_t i);
    void start_send(std::uint32_t i, const std::uint8_t* ptr, std::size_t len);
    void consume_tls(std::uint32_t i, std::span<const std::uint8_t> data);
    void tls_up(std::uint32_t i);
    void consume_plain(std::uint32_t i, std::span<const std::uint8_t> data);
    void send_upgrade(std::uint32_t i);
    void consume(std::uint32_t i, std::span<const std::uint8_t> data);
    void consume_handshake(std::uint32_t i, std::span<const std::uint8_t> data);
    void consume_raw(std::uint32_t i, std::span<const std::uint8_t> data);
    void consume_frames(std::uint32_t i, std::span<const std::uint8_t> data);
    Expected expected(std::uint32_t i);
    void on_control(std::uint32_t i);
    bool accept_extensions(std::uint32_t i, std::string_view extensions);
    std::span<const std::uint8_t> message_wire(const Conn& c, std::uint32_t variant) const;
    void became_open(std::uint32_t i);
    void queue_message(std::uint32_t i);
    void complete_message(std::uint32_t i);
    void begin_close(std::uint32_t i);
    void drop_unsent(std::uint32_t i);
    void finish(std::uint32_t i);
    void fail(std::uint32_t i, ErrorKind kind);
    void return_buffer(std::uint16_t bid);
    InFlight& slot(std::uint32_t i, std::uint32_t k) {
        return in_flight_[std::size_t{i} * o_.in_flight + (k % o_.in_flight)];
    }
    std::uint64_t next_random() {
        rng_ ^= rng_ >> 12;
        rng_ ^= rng_ << 25;
        rng_ ^= rng_ >> 27;
        return rng_ * 0x2545F4914F6CDD1Dull;
    }

    const Options& o_;
    const WorkerPlan plan_;
    const SharedControl& control_;
    WorkerStats& stats_;
    const bool framed_;
    PayloadPool pool_;
    // permessage-deflate: the offer, and compressed frames per agreed client
    // window (built when the first connection agrees on it).
    std::string offer_value_;
    std::array<std::unique_ptr<CompressedFrames>, proto::kMaxWindowBits + 1> compressed_;
    std::vector<std::uint8_t> inflate_scratch_;
    std::unique_ptr<TlsClientContext> tls_;  // --tls: one per worker process
    std::vector<std::uint8_t> tls_plain_;    // decrypted bytes, handed on at once
    std::vector<Conn> conns_;
    std::vector<InFlight> in_flight_;
    std::vector<std::uint32_t> rearm_;
    std::vector<std::uint32_t> restart_;  // connect mode: slots to reopen at the next tick
    sockaddr_in dst_{};
    ClientRing ring_;
    std::uint64_t rng_ = 0x853C49E6748FEA9Bull;
    std::uint64_t now_ = 0;
    Phase phase_ = Phase::kBringUp;
    bool measuring_ = false;
    std::uint64_t cpu_at_measure_ = 0;
    std::uint32_t next_to_open_ = 0;
    std::uint32_t opening_ = 0;  // connecting or handshaking
    std::uint32_t active_ = 0;   // not unused and not done
    std::uint64_t stop_deadline_ = 0;
};

bool Worker::setup_ring() {
    return loads() ? ring_.setup(kLoadBufferSize, kLoadBufferCount)
                   : ring_.setup(kSmallBufferSize, kSmallBufferCount);
}

io_uring_sqe* Worker::sqe() {
    return ring_.sqe();
}

void Worker::return_buffer(std::uint16_t bid) {
    ring_.return_buffer(bid);
}

int Worker::run() {
    if (!setup_ring()) return 1;
    if (o_.tls) {
        tls_ = std::make_unique<TlsClientContext>();
        TlsClientSettings settings;
        settings.ca_file = o_.tls_ca;
        settings.insecure = o_.tls_insecure;
        settings.resume = o_.tls_resume;
        settings.server_name = o_.server_name;
        std::string error;
        if (!tls_->init(settings, error)) {
            std::fprintf(stderr, "wsload: %s\n", error.c_str());
            return 1;
        }
        tls_plain_.resize(kTlsPlainScratch);
    }
    stats_.assigned.store(plan_.count, std::memory_order_relaxed);
    now_ = monotonic_ns();
    std::uint64_t next_tick = now_ + kTickNs;
    while (true) {
        now_ = monotonic_ns();
        const auto wanted = static_cast<Phase>(control_.phase.load(std::memory_order_acquire));
        while (phase_ < wanted)
            enter_phase(static_cast<Phase>(static_cast<int>(phase_) + 1));
        open_more();
        if (now_ >= next_tick) {
            tick();
            next_tick = now_ + kTickNs;
        }
        if (phase_ == Phase::kStop && (active_ == 0 || now_ >= stop_deadline_)) break;

        __kernel_timespec timeout{};
        timeout.tv_nsec = static_cast<long long>(kTickNs);
        io_uring_cqe* first = nullptr;
        const int rc = io_uring_submit_and_wait_timeout(ring_.ring(), &first, 1, &timeout, nullptr);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY) {
            std::fprintf(stderr, "wsload: io_uring wait: %s\n", std::strerror(-rc));
            return 1;
        }
        unsigned head = 0, seen = 0;
        io_uring_cqe* cqe = nullptr;
        io_uring_for_each_cqe(ring_.ring(), head, cqe) {
            now_ = monotonic_ns();
            handle(cqe);
            ++seen;
        }
        io_uring_cq_advance(ring_.ring(), seen);
        ring_.publish_returned();
        // Receives that stopped for lack of buffers (ENOBUFS is flow control, not an
        // error) or ended are re-armed only now, after this batch returned its buffers.
        for (const std::uint32_t i : rearm_) {
            const ConnState s = conns_[i].state;
            if (s == ConnState::kHandshaking || s == ConnState::kOpen || s == ConnState::kClosing)
                arm_recv(i);
        }
        rearm_.clear();
    }
    // Whatever did not close in time is counted and left to exit() to close.
    for (auto& c : conns_)
        if (c.state == ConnState::kClosing)
            add_relaxed(stats_.errors[int(ErrorKind::kCloseTimeout)], 1);
    return 0;
}

void Worker::enter_phase(Phase p) {
    phase_ = p;
    switch (p) {
        case Phase::kBringUp:
            break;
        case Phase::kWarmup:
            if (o_.mode == Mode::kConnect) {
                for (std::uint32_t i = 0; i < plan_.count; ++i)
                    start_connect(i);
                break;
            }
            for (std::uint32_t i = 0; i < plan_.count; ++i) {
                if (conns_[i].state != ConnState::kOpen) continue;
                if (loads()) {
                    for (std::uint32_t k = 0; k < o_.in_flight; ++k)
                        queue_message(i);
                } else {  // idle: spread the pings over one interval
                    conns_[i].deadline_ns =
                        now_ + next_random() %
                                   static_cast<std::uint64_t>(o_.ping_interval_s * kNsPerSecond);
                }
            }
            break;
        case Phase::kMeasure:
            measuring_ = true;
            cpu_at_measure_ = cpu_ns();
            break;
        case Phase::kStop:
            if (measuring_) stats_.cpu_measure_ns.store(cpu_ns() - cpu_at_measure_);
            measuring_ = false;
            stop_deadline_ = now_ + kCloseTimeoutNs;
            for (std::uint32_t i = 0; i < plan_.count; ++i) {
                Conn& c = conns_[i];
                if (c.state == ConnState::kOpen) {
                    begin_close(i);
                } else if (c.state == ConnState::kConnecting ||
                           c.state == ConnState::kHandshaking) {
                    // Abandoned, not failed: the run is over.
                    shutdown(c.fd, SHUT_RDWR);
                    close(c.fd);
                    c.fd = -1;
                    c.state = ConnState::kDone;
                    ++c.gen;
                    --active_;
                }
            }
            break;
    }
}

void Worker::open_more() {
    if (o_.mode == Mode::kConnect || phase_ != Phase::kBringUp) return;
    while (next_to_open_ < plan_.count && opening_ < plan_.concurrency)
        start_connect(next_to_open_++);
}

void Worker::tick() {
    if (o_.mode == Mode::kConnect && (phase_ == Phase::kWarmup || phase_ == Phase::kMeasure)) {
        for (const std::uint32_t i : restart_)
            start_connect(i);
    }
    restart_.clear();
    const auto ping_ns = static_cast<std::uint64_t>(o_.ping_interval_s * kNsPerSecond);
    for (std::uint32_t i = 0; i < plan_.count; ++i) {
        Conn& c = conns_[i];
        switch (c.state) {
            case ConnState::kConnecting:
            case ConnState::kHandshaking:
                if (now_ >= c.deadline_ns) fail(i, ErrorKind::kTimeout);
                break;
            case ConnState::kClosing:
                if (now_ >= c.deadline_ns) fail(i, ErrorKind::kCloseTimeout);
                break;
            case ConnState::kOpen:
                if (o_.mode == Mode::kIdle && phase_ != Phase::kBringUp && now_ >= c.deadline_ns) {
                    // The ping carries its send time; the pong brings it back (§5.5.3).
                    std::uint8_t stamp[sizeof now_];
                    std::memcpy(stamp, &now_, sizeof now_);
                    c.control_out += make_masked_frame(kOpPing, stamp);
                    c.deadline_ns = now_ + ping_ns;
                    add_relaxed(stats_.pings_sent, 1);
                    flush_send(i);
                }
                break;
            default:
                break;
        }
    }
}

void Worker::start_connect(std::uint32_t i) {
    Conn& c = conns_[i];
    const std::uint16_t gen = static_cast<std::uint16_t>(c.gen + 1);
    c = Conn{};
    c.gen = gen;
    c.started_ns = now_;
    c.deadline_ns = now_ + kHandshakeTimeoutNs;
    c.state = ConnState::kConnecting;
    ++active_;
    ++opening_;
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
        fail(i, ErrorKind::kConnect);
        return;
    }
    const int one = 1;
    // Small echoes must not wait for Nagle's delayed-ACK interplay.
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Defer the port choice to connect(), so each source address offers its whole
    // ephemeral range per destination instead of one global range.
    setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(kLoopbackBase + (plan_.first_index + i) % plan_.sources);
    if (bind(c.fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
        fail(i, ErrorKind::kConnect);
        return;
    }
    io_uring_sqe* s = sqe();
    io_uring_prep_connect(s, c.fd, reinterpret_cast<const sockaddr*>(&dst_), sizeof dst_);
    io_uring_sqe_set_data64(s, pack(Op::kConnect, c.gen, i));
}

void Worker::handle(const io_uring_cqe* cqe) {
    const std::uint64_t data = cqe->user_data;
    const std::uint32_t i = index_of(data);
    const bool current =
        i < conns_.size() && conns_[i].gen == gen_of(data) && conns_[i].state != ConnState::kDone;
    switch (op_of(data)) {
        case Op::kConnect:
            if (current) on_connect(i, cqe->res);
            break;
        case Op::kSend:
            if (current) on_send(i, cqe->res);
            break;
        case Op::kRecv:
            if (current) {
                on_recv(i, cqe);
            } else if (cqe->flags & IORING_CQE_F_BUFFER) {
                return_buffer(static_cast<std::uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
            }
            break;
    }
}

void Worker::on_connect(std::uint32_t i, int res) {
    Conn& c = conns_[i];
    if (res < 0) {
        fail(i, ErrorKind::kConnect);
        return;
    }
    arm_recv(i);
    if (tls_) {
        // The TLS handshake first; the upgrade request (or raw data) once it is done.
        c.state = ConnState::kHandshaking;
        c.tls_started_ns = now_;
        c.tls = std::make_unique<TlsClientConn>();
        if (!c.tls->start(*tls_)) {
            fail(i, ErrorKind::kTls);
            return;
        }
        flush_send(i);  // the ClientHello
        return;
    }
    if (!framed_) {
        became_open(i);
        return;
    }
    send_upgrade(i);
}

void Worker::send_upgrade(std::uint32_t i) {
    Conn& c = conns_[i];
    c.state = ConnState::kHandshaking;
    c.handshake = std::make_unique<Handshake>();
    c.control_out =
        make_upgrade_request(o_.host_header, o_.path, c.handshake->accept, offer_value_);
    flush_send(i);
}

void Worker::arm_recv(std::uint32_t i) {
    ring_.arm_recv(conns_[i].fd, pack(Op::kRecv, conns_[i].gen, i));
}

void Worker::flush_send(std::uint32_t i) {
    Conn& c = conns_[i];
    if (c.send_busy || c.fd < 0) return;
    if (c.tls) {
        flush_send_tls(i);
        return;
    }
    const std::uint8_t* ptr = nullptr;
    std::size_t len = 0;
    if (!c.control_out.empty()) {
        c.control_sending.swap(c.control_out);
        c.control_out.clear();
        c.sending_control = true;
        ptr = reinterpret_cast<const std::uint8_t*>(c.control_sending.data());
        len = c.control_sending.size();
    } else if (c.unsent > 0) {
        c.sending_control = false;
        const auto wire = message_wire(c, slot(i, c.head + c.count - c.unsent).variant);
        ptr = wire.data();
        len = wire.size();
    } else {
        if (!framed_ && c.state == ConnState::kClosing && !c.shut_write) {
            c.shut_write = true;  // raw mode's "close": the echo server answers EOF with EOF
            shutdown(c.fd, SHUT_WR);
        }
        return;
    }
    start_send(i, ptr, len);
}

void Worker::start_send(std::uint32_t i, const std::uint8_t* ptr, std::size_t len) {
    Conn& c = conns_[i];
    c.send_done = 0;
    c.send_busy = true;
    io_uring_sqe* s = sqe();
    io_uring_prep_send(s, c.fd, ptr, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, pack(Op::kSend, c.gen, i));
}

// The next plaintext unit (control frames first, then the oldest unsent message)
// is encrypted whole together with any pending handshake bytes, and the records
// go out as one send; with no unit, a bare handshake flight goes alone.
void Worker::flush_send_tls(std::uint32_t i) {
    Conn& c = conns_[i];
    std::span<const std::uint8_t> plain;
    bool control = true;
    if (c.tls->handshake_done()) {
        if (!c.control_out.empty()) {
            c.control_sending.swap(c.control_out);
            c.control_out.clear();
            plain = {reinterpret_cast<const std::uint8_t*>(c.control_sending.data()),
                     c.control_sending.size()};
        } else if (c.unsent > 0) {
            control = false;
            plain = message_wire(c, slot(i, c.head + c.count - c.unsent).variant);
        }
    }
    if (!plain.empty() && !c.tls->write(plain)) {
        fail(i, ErrorKind::kTls);
        return;
    }
    c.tls_sending.clear();
    c.tls->take_output(c.tls_sending);
    if (c.tls_sending.empty()) {
        if (!framed_ && c.state == ConnState::kClosing && !c.shut_write) {
            c.shut_write = true;  // raw mode's "close", as in flush_send
            shutdown(c.fd, SHUT_WR);
        }
        return;
    }
    c.sending_control = control;
    start_send(i, reinterpret_cast<const std::uint8_t*>(c.tls_sending.data()),
               c.tls_sending.size());
}

void Worker::on_send(std::uint32_t i, int res) {
    Conn& c = conns_[i];
    c.send_busy = false;
    if (res < 0) {
        fail(i, ErrorKind::kSend);
        return;
    }
    const std::uint8_t* ptr;
    std::size_t len;
    if (c.tls) {
        ptr = reinterpret_cast<const std::uint8_t*>(c.tls_sending.data());
        len = c.tls_sending.size();
    } else if (c.sending_control) {
        ptr = reinterpret_cast<const std::uint8_t*>(c.control_sending.data());
        len = c.control_sending.size();
    } else {
        const auto wire = message_wire(c, slot(i, c.head + c.count - c.unsent).variant);
        ptr = wire.data();
        len = wire.size();
    }
    c.send_done += static_cast<std::uint32_t>(res);
    if (c.send_done < len) {  // short write: send the rest before anything else
        c.send_busy = true;
        io_uring_sqe* s = sqe();
        io_uring_prep_send(s, c.fd, ptr + c.send_done, len - c.send_done, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(s, pack(Op::kSend, c.gen, i));
        return;
    }
    if (c.sending_control)
        c.control_sending.clear();
    else
        --c.unsent;
    flush_send(i);
}

void Worker::on_recv(std::uint32_t i, const io_uring_cqe* cqe) {
    Conn& c = conns_[i];
    const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    if (cqe->res < 0) {
        if (cqe->res == -ENOBUFS)
            rearm_.push_back(i);
        else
            fail(i, ErrorKind::kRecv);
        return;
    }
    if (cqe->res == 0) {
        // EOF. Expected once we are closing; otherwise the server went away.
        if (c.state == ConnState::kClosing)
            finish(i);
        else
            fail(i, ErrorKind::kUnexpectedClose);
        return;
    }
    const auto bid = static_cast<std::uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    consume(i, ring_.received(bid, cqe->res));
    return_buffer(bid);
    if (!more && c.state != ConnState::kDone) rearm_.push_back(i);
}

void Worker::consume(std::uint32_t i, std::span<const std::uint8_t> data) {
    if (conns_[i].tls)
        consume_tls(i, data);
    else
        consume_plain(i, data);
}

// Ciphertext in; the handshake advanced, or plaintext handed to the same
// handshake/frame readers a plain connection uses.
void Worker::consume_tls(std::uint32_t i, std::span<const std::uint8_t> data) {
    Conn& c = conns_[i];
    const std::uint16_t gen = c.gen;  // connect mode may reopen the slot under us
    auto same = [&] { return c.gen == gen && c.state != ConnState::kDone && c.tls; };
    c.tls->feed(data);
    if (!c.tls->handshake_done()) {
        switch (c.tls->handshake()) {
            case TlsClientConn::Step::kFailed:
                fail(i, ErrorKind::kTls);
                return;
            case TlsClientConn::Step::kWant:
                flush_send(i);
                return;
            case TlsClientConn::Step::kDone:
                tls_up(i);
                if (!same()) return;
                break;
        }
    }
    while (same()) {
        const long n = c.tls->read(tls_plain_);
        if (n < 0) {
            fail(i, ErrorKind::kTls);
            return;
        }
        if (n == 0) break;
        consume_plain(i, {tls_plain_.data(), static_cast<std::size_t>(n)});
    }
    if (same() && c.tls->has_output()) flush_send(i);
}

void Worker::tls_up(std::uint32_t i) {
    Conn& c = conns_[i];
    // Connect mode counts the measured window's handshakes; the others count
    // their bring-up (where all their handshakes happen).
    if (measuring_ || o_.mode != Mode::kConnect) {
        add_relaxed(c.tls->resumed() ? stats_.tls_resumed : stats_.tls_full, 1);
        add_relaxed(stats_.tls_handshake_ns, now_ - c.tls_started_ns);
    }
    if (framed_)
        send_upgrade(i);
    else
        became_open(i);
}

void Worker::consume_plain(std::uint32_t i, std::span<const std::uint8_t> data) {
    switch (conns_[i].state) {
        case ConnState::kHandshaking:
            consume_handshake(i, data);
            break;
        case ConnState::kOpen:
        case ConnState::kClosing:
            if (framed_)
                consume_frames(i, data);
            else
                consume_raw(i, data);
            break;
        default:
            break;
    }
}

void Worker::consume_handshake(std::uint32_t i, std::span<const std::uint8_t> data) {
    Conn& c = conns_[i];
    std::string& got = c.handshake->received;
    got.append(reinterpret_cast<const char*>(data.data()), data.size());
    std::size_t header_end = 0;
    std::string extensions;
    switch (check_upgrade_response(got, c.handshake->accept, header_end, &extensions)) {
        case HandshakeResult::kIncomplete:
            if (got.size() > kMaxHandshakeBytes) fail(i, ErrorKind::kHandshakeHeaders);
            return;
        case HandshakeResult::kBadStatus:
            fail(i, ErrorKind::kHandshakeStatus);
            return;
        case HandshakeResult::kBadAccept:
            fail(i, ErrorKind::kHandshakeAccept);
            return;
        case HandshakeResult::kBadHeaders:
            fail(i, ErrorKind::kHandshakeHeaders);
            return;
        case HandshakeResult::kOk:
            break;
    }
    if (!accept_extensions(i, extensions)) return;
    const std::string rest = got.substr(header_end);
    c.handshake.reset();
    became_open(i);
    if (!rest.empty() && c.state != ConnState::kDone)
        consume_frames(i, {reinterpret_cast<const std::uint8_t*>(rest.data()), rest.size()});
}

void Worker::became_open(std::uint32_t i) {
    Conn& c = conns_[i];
    c.state = ConnState::kOpen;
    c.was_up = true;
    --opening_;
    add_relaxed(stats_.connections_up, 1);
    const auto up = stats_.connections_up.load(std::memory_order_relaxed);
    if (up > stats_.peak_up.load(std::memory_order_relaxed))
        stats_.peak_up.store(up, std::memory_order_relaxed);
    if (o_.mode == Mode::kConnect) {
        // A connect-mode cycle: handshake time recorded, then a proper close (§7.1.2).
        const std::uint64_t took = now_ - c.started_ns;
        stats_.latency_all.record(took);
        if (measuring_) stats_.latency.record(took);
        begin_close(i);
        return;
    }
    if (o_.mode == Mode::kIdle && o_.idle_message) {
        // Up (for the bring-up count) only once this message's echo is verified.
        c.idle_echo_pending = true;
        queue_message(i);
        return;
    }
    add_relaxed(stats_.bringup_finished, 1);
    if (phase_ == Phase::kWarmup || phase_ == Phase::kMeasure) {
        if (loads()) {
            for (std::uint32_t k = 0; k < o_.in_flight; ++k)
                queue_message(i);
        } else {
            c.deadline_ns = now_ + static_cast<std::uint64_t>(o_.ping_interval_s * kNsPerSecond);
        }
    }
}

void Worker::queue_message(std::uint32_t i) {
    Conn& c = conns_[i];
    InFlight& f = slot(i, c.head + c.count);
    const std::uint32_t variants = c.compressed ? c.compressed->variants() : pool_.variants();
    f.variant = static_cast<std::uint32_t>(next_random() % variants);
    f.sent_ns = now_;
    ++c.count;
    ++c.unsent;
    flush_send(i);
}

void Worker::complete_message(std::uint32_t i) {
    Conn& c = conns_[i];
    const InFlight done = slot(i, c.head);
    const std::uint64_t rtt = now_ - done.sent_ns;
    c.head = static_cast<std::uint8_t>((c.head + 1) % o_.in_flight);
    --c.count;
    c.recv_pos = 0;
    stats_.latency_all.record(rtt);
    add_relaxed(stats_.messages_all, 1);
    if (measuring_) {
        stats_.latency.record(rtt);
        add_relaxed(stats_.messages, 1);
        add_relaxed(stats_.payload_bytes, pool_.payload_bytes());
        add_relaxed(stats_.sent_wire_bytes, c.compressed
                                                ? c.compressed->payload_wire_bytes(done.variant)
                                                : pool_.payload_bytes());
        add_relaxed(stats_.recv_wire_bytes,
                    framed_ ? c.reader.message_wire_bytes() : pool_.payload_bytes());
        if (c.compressed) add_relaxed(stats_.sent_compressed, 1);
        if (framed_ && c.reader.message_compressed()) add_relaxed(stats_.recv_compressed, 1);
    }
    if (o_.mode == Mode::kIdle) {  // --idle-message: its one echo is back; now it idles
        c.idle_echo_pending = false;
        add_relaxed(stats_.bringup_finished, 1);
        return;
    }
    if (c.state == ConnState::kOpen && (phase_ == Phase::kWarmup || phase_ == Phase::kMeasure))
        queue_message(i);
}

void Worker::consume_raw(std::uint32_t i, std::span<const std::uint8_t> data) {
    Conn& c = conns_[i];
    const std::uint32_t size = pool_.payload_bytes();
    while (!data.empty()) {
        if (c.count == c.unsent) {  // bytes nobody asked for
            fail(i, ErrorKind::kDataMismatch);
            return;
        }
        const std::size_t n = std::min<std::size_t>(size - c.recv_pos, data.size());
        if (std::memcmp(data.data(), pool_.expected(slot(i, c.head).variant) + c.recv_pos, n) !=
            0) {
            fail(i, ErrorKind::kDataMismatch);
            return;
        }
        c.recv_pos += static_cast<std::uint32_t>(n);
        data = data.subspan(n);
        if (c.recv_pos == size) complete_message(i);
    }
}

void Worker::consume_frames(std::uint32_t i, std::span<const std::uint8_t> data) {
    Conn& c = conns_[i];
    while (!data.empty() && c.state != ConnState::kDone) {
        std::size_t used = 0;
        const EchoReader::Status status = c.reader.next(data, used, expected(i));
        data = data.subspan(used);
        switch (status) {
            case EchoReader::Status::kNeedMore:
                return;
            case EchoReader::Status::kMessage:
                complete_message(i);
                break;
            case EchoReader::Status::kControl:
                on_control(i);
                break;
            case EchoReader::Status::kMismatch:
                fail(i, ErrorKind::kDataMismatch);
                return;
            case EchoReader::Status::kProtocol:
                fail(i, ErrorKind::kProtocol);
                return;
            case EchoReader::Status::kBadDeflate:
                fail(i, ErrorKind::kInflate);
                return;
        }
    }
}

// The echo the server owes next: the oldest queued message once it is on the
// wire — fully written, or being written now (a server echoing piece by piece
// may answer before the send completes).
Expected Worker::expected(std::uint32_t i) {
    const Conn& c = conns_[i];
    Expected e;
    e.opcode = o_.binary ? kOpBinary : kOpText;
    const bool on_wire = c.count > c.unsent || (c.count > 0 && c.send_busy && !c.sending_control);
    if (sends() && on_wire) {
        e.bytes = pool_.expected(slot(i, c.head).variant);
        e.length = pool_.payload_bytes();
    }
    return e;
}

std::span<const std::uint8_t> Worker::message_wire(const Conn& c, std::uint32_t variant) const {
    return c.compressed ? c.compressed->wire(variant) : pool_.wire(variant);
}

// Judges the server's Sec-WebSocket-Extensions answer and, when permessage-deflate
// was agreed, switches the connection to compressed frames and inflated echoes.
// False after failing the connection.
bool Worker::accept_extensions(std::uint32_t i, std::string_view extensions) {
    Conn& c = conns_[i];
    proto::DeflateAgreement agreed;
    switch (check_deflate_answer(extensions, o_.deflate ? &o_.deflate_offer : nullptr, agreed)) {
        case DeflateAnswer::kNone:
            return true;
        case DeflateAnswer::kInvalid:
            fail(i, ErrorKind::kHandshakeExtensions);
            return false;
        case DeflateAnswer::kAccepted:
            break;
    }
    auto& frames = compressed_[agreed.client_max_window_bits];
    if (!frames) {
        frames = std::make_unique<CompressedFrames>(pool_, agreed.client_max_window_bits,
                                                    o_.binary ? kOpBinary : kOpText,
                                                    proto::kDefaultDeflateLevel);
    }
    if (!frames->ok()) {
        fail(i, ErrorKind::kInflate);
        return false;
    }
    c.compressed = frames.get();
    proto::InflaterSettings settings;
    // The server compresses with at most its agreed window; inflating with just
    // that window also checks it keeps to it (a longer distance is invalid data).
    settings.window_bits = std::max(agreed.server_max_window_bits, proto::kMinZlibWindowBits);
    settings.no_context_takeover = agreed.server_no_context_takeover;
    settings.max_message_bytes = pool_.payload_bytes();
    c.reader.enable_inflate(settings, inflate_scratch_);
    add_relaxed(stats_.deflate_up, 1);
    return true;
}

void Worker::on_control(std::uint32_t i) {
    Conn& c = conns_[i];
    const std::string& payload = c.reader.control_payload();
    const auto* p = reinterpret_cast<const std::uint8_t*>(payload.data());
    switch (c.reader.control_opcode()) {
        case kOpPing:  // §5.5.2: answer with a pong carrying the same payload
            add_relaxed(stats_.server_pings, 1);
            if (!c.close_sent) {
                c.control_out += make_masked_frame(kOpPong, {p, payload.size()});
                flush_send(i);
            }
            break;
        case kOpPong:
            add_relaxed(stats_.pongs_received, 1);
            if (o_.mode == Mode::kIdle && payload.size() == sizeof(std::uint64_t)) {
                std::uint64_t sent = 0;
                std::memcpy(&sent, p, sizeof sent);
                if (sent <= now_) {
                    stats_.latency_all.record(now_ - sent);
                    if (measuring_) stats_.latency.record(now_ - sent);
                }
            }
            break;
        case kOpClose:
            if (c.close_sent) {
                // The answer to our close: wait for the server's EOF, or with
                // --close-early count the cycle done and close now.
                if (o_.close_early && o_.mode == Mode::kConnect && c.state == ConnState::kClosing) {
                    shutdown(c.fd, SHUT_RDWR);  // ends the still-armed multishot receive
                    finish(i);
                }
                break;
            }
            // The server closed first: echo its status code (§5.5.1), then wait for EOF.
            if (phase_ != Phase::kStop)
                add_relaxed(stats_.errors[int(ErrorKind::kUnexpectedClose)], 1);
            drop_unsent(i);
            c.control_out +=
                make_masked_frame(kOpClose, {p, std::min<std::size_t>(2, payload.size())});
            c.close_sent = true;
            if (c.state == ConnState::kOpen) {
                c.state = ConnState::kClosing;
                c.deadline_ns = now_ + kCloseTimeoutNs;
            }
            flush_send(i);
            break;
        default:
            break;
    }
}

void Worker::begin_close(std::uint32_t i) {
    Conn& c = conns_[i];
    drop_unsent(i);
    c.state = ConnState::kClosing;
    c.deadline_ns = now_ + kCloseTimeoutNs;
    if (framed_) {
        const std::uint8_t code[2] = {kCloseNormal >> 8, kCloseNormal & 0xFF};
        c.control_out += make_masked_frame(kOpClose, code);
        c.close_sent = true;
    }
    flush_send(i);
}

// Messages not yet written are dropped; those on the wire (including one being
// written now) are still expected back and verified.
void Worker::drop_unsent(std::uint32_t i) {
    Conn& c = conns_[i];
    const std::uint8_t keep = (c.send_busy && !c.sending_control && c.unsent > 0) ? 1 : 0;
    c.count = static_cast<std::uint8_t>(c.count - (c.unsent - keep));
    c.unsent = keep;
}

// A connection that closed properly: server's close (if framed) and EOF seen.
void Worker::finish(std::uint32_t i) {
    Conn& c = conns_[i];
    close(c.fd);
    c.fd = -1;
    if (c.tls) c.tls->closed_cleanly();
    c.tls.reset();
    c.state = ConnState::kDone;
    ++c.gen;
    --active_;
    if (c.was_up) sub_relaxed(stats_.connections_up, 1);
    if (c.idle_echo_pending) add_relaxed(stats_.bringup_finished, 1);  // closed before its echo
    c.idle_echo_pending = false;
    if (o_.mode == Mode::kConnect) {
        if (measuring_) add_relaxed(stats_.handshakes, 1);
        if (phase_ == Phase::kWarmup || phase_ == Phase::kMeasure) start_connect(i);
    }
}

void Worker::fail(std::uint32_t i, ErrorKind kind) {
    Conn& c = conns_[i];
    add_relaxed(stats_.errors[static_cast<int>(kind)], 1);
    if (c.fd >= 0) {
        shutdown(c.fd, SHUT_RDWR);  // ends a still-armed multishot receive
        close(c.fd);
        c.fd = -1;
    }
    const bool bringing_up =
        c.state == ConnState::kConnecting || c.state == ConnState::kHandshaking;
    if (bringing_up) {
        --opening_;
        if (o_.mode != Mode::kConnect) add_relaxed(stats_.bringup_finished, 1);
    }
    if (c.was_up) sub_relaxed(stats_.connections_up, 1);
    if (c.idle_echo_pending) add_relaxed(stats_.bringup_finished, 1);  // failed before its echo
    c.idle_echo_pending = false;
    c.handshake.reset();
    c.tls.reset();
    c.state = ConnState::kDone;
    ++c.gen;
    --active_;
    // Connect mode retries at the next tick, so a refusing server is not hammered.
    if (o_.mode == Mode::kConnect) restart_.push_back(i);
}

}  // namespace

int run_worker(const Options& options, const WorkerPlan& plan, const SharedControl& control,
               WorkerStats& stats) {
    Worker worker(options, plan, control, stats);
    const int rc = worker.run();
    stats.exited.store(1, std::memory_order_release);
    return rc;
}

}  // namespace wsgate::bench
