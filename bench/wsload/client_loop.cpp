#include "client_loop.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "client_codec.hpp"
#include "client_socket.hpp"
#include "completion_driver.hpp"
#include "compressed_frames.hpp"
#include "deflate_client.hpp"
#include "echo_reader.hpp"
#include "loop_clock.hpp"
#include "payload_pool.hpp"
#include "tls_client.hpp"
#include "upgrade_verdict.hpp"
#include "worker_loop.hpp"
#include "xorshift.hpp"

namespace wsgate::bench {
namespace {

// Load modes stream data: larger buffers, fewer completions per message.
constexpr std::uint32_t kLoadBufferSize = 16384, kLoadBufferCount = 4096;
// Idle and connect modes only see handshakes and control frames.
constexpr std::uint32_t kSmallBufferSize = 2048, kSmallBufferCount = 1024;
constexpr std::uint64_t kTickNs = 50'000'000;  // timers (pings, timeouts) checked this often
constexpr std::uint64_t kHandshakeTimeoutNs = 10 * kNsPerSecond;
constexpr std::uint64_t kCloseTimeoutNs =
    3 * kNsPerSecond;                            // after kStop, per connection and overall
constexpr std::size_t kInflateScratch = 16384;   // inflated bytes checked per step
constexpr std::size_t kTlsPlainScratch = 16384;  // one TLS record's plaintext at most

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
          in_flight_(sends() ? std::size_t{plan.count} * o.in_flight : 0),
          rng_(plan.first_index) {
        if (o.deflate) {
            offer_value_ = deflate_offer_value(o.deflate_offer);
            inflate_scratch_.resize(kInflateScratch);
        }
        dst_ = target_address(o);
    }

    int run();

    // CompletionHandler (completion_driver.hpp)
    const Conn& conn(std::uint32_t i) const { return conns_[i]; }
    std::size_t slot_count() const { return conns_.size(); }
    bool done(std::uint32_t i) const { return conns_[i].state == ConnState::kDone; }
    bool receiving(std::uint32_t i) const {
        const ConnState s = conns_[i].state;
        return s == ConnState::kHandshaking || s == ConnState::kOpen || s == ConnState::kClosing;
    }
    bool closing(std::uint32_t i) const { return conns_[i].state == ConnState::kClosing; }
    void on_connected(std::uint32_t i);
    void on_send(std::uint32_t i, int res);
    void consume(std::uint32_t i, std::span<const std::uint8_t> data);
    void finish(std::uint32_t i);
    void fail(std::uint32_t i, ErrorKind kind);
    // WorkerMode (worker_loop.hpp)
    void enter_phase(Phase p);
    void step() { open_more(); }
    void tick();
    bool finished() const {
        return phase_ == Phase::kStop && (active_ == 0 || now_ >= stop_deadline_);
    }
    std::uint64_t wait_ns(std::uint64_t) const { return kTickNs; }
    void after_turn() {}

  private:
    bool loads() const { return o_.mode == Mode::kEcho || o_.mode == Mode::kRaw; }
    // Modes that send data messages: the loads, and idle with --idle-message.
    bool sends() const { return loads() || (o_.mode == Mode::kIdle && o_.idle_message); }
    bool setup_ring();
    void open_more();

    void start_connect(std::uint32_t i);
    void flush_send(std::uint32_t i);
    void flush_send_tls(std::uint32_t i);
    void start_send(std::uint32_t i, const std::uint8_t* ptr, std::size_t len);
    void consume_tls(std::uint32_t i, std::span<const std::uint8_t> data);
    void tls_up(std::uint32_t i);
    void consume_plain(std::uint32_t i, std::span<const std::uint8_t> data);
    void send_upgrade(std::uint32_t i);
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
    InFlight& slot(std::uint32_t i, std::uint32_t k) {
        return in_flight_[std::size_t{i} * o_.in_flight + (k % o_.in_flight)];
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
    std::vector<std::uint32_t> restart_;  // connect mode: slots to reopen at the next tick
    sockaddr_in dst_{};
    CompletionDriver io_;
    XorShift64 rng_;
    std::uint64_t now_ = 0;
    Phase phase_ = Phase::kBringUp;
    MeasureWindow window_;
    std::uint32_t next_to_open_ = 0;
    std::uint32_t opening_ = 0;  // connecting or handshaking
    std::uint32_t active_ = 0;   // not unused and not done
    std::uint64_t stop_deadline_ = 0;
};

bool Worker::setup_ring() {
    return loads() ? io_.setup(kLoadBufferSize, kLoadBufferCount)
                   : io_.setup(kSmallBufferSize, kSmallBufferCount);
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
    if (!run_worker_loop(*this, io_, control_, phase_, now_, kTickNs)) return 1;
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
                        now_ +
                        rng_.next() % static_cast<std::uint64_t>(o_.ping_interval_s * kNsPerSecond);
                }
            }
            break;
        case Phase::kMeasure:
            window_.open();
            break;
        case Phase::kStop:
            window_.close(stats_.cpu_measure_ns);
            stop_deadline_ = now_ + kCloseTimeoutNs;
            for (std::uint32_t i = 0; i < plan_.count; ++i) {
                Conn& c = conns_[i];
                if (c.state == ConnState::kOpen) {
                    begin_close(i);
                } else if (c.state == ConnState::kConnecting ||
                           c.state == ConnState::kHandshaking) {
                    abort_socket(c.fd);  // abandoned, not failed: the run is over
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
    c.fd = open_client_socket((plan_.first_index + i) % plan_.sources);
    if (c.fd < 0) {
        fail(i, ErrorKind::kConnect);
        return;
    }
    io_.connect(c.fd, dst_, c.gen, i);
}

void Worker::on_connected(std::uint32_t i) {
    Conn& c = conns_[i];
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
    io_.send(c.fd, ptr, len, c.gen, i);
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
    // A short write: the rest goes before anything else.
    if (io_.send_rest(c.fd, {ptr, len}, c.send_done, res, c.gen, i)) {
        c.send_busy = true;
        return;
    }
    if (c.sending_control)
        c.control_sending.clear();
    else
        --c.unsent;
    flush_send(i);
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
    if (window_.on() || o_.mode != Mode::kConnect) {
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
    const UpgradeVerdict verdict = judge_upgrade(
        check_upgrade_response(got, c.handshake->accept, header_end, &extensions), got.size());
    if (verdict.step == UpgradeVerdict::Step::kFail) fail(i, verdict.error);
    if (verdict.step != UpgradeVerdict::Step::kUpgraded) return;
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
    count_up(stats_);
    if (o_.mode == Mode::kConnect) {
        // A connect-mode cycle: handshake time recorded, then a proper close (§7.1.2).
        const std::uint64_t took = now_ - c.started_ns;
        stats_.latency_all.record(took);
        if (window_.on()) stats_.latency.record(took);
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
    f.variant = static_cast<std::uint32_t>(rng_.next() % variants);
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
    if (window_.on()) {
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
                    if (window_.on()) stats_.latency.record(now_ - sent);
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
        if (window_.on()) add_relaxed(stats_.handshakes, 1);
        if (phase_ == Phase::kWarmup || phase_ == Phase::kMeasure) start_connect(i);
    }
}

void Worker::fail(std::uint32_t i, ErrorKind kind) {
    Conn& c = conns_[i];
    add_relaxed(stats_.errors[static_cast<int>(kind)], 1);
    abort_socket(c.fd);
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
