#include "pubsub_loop.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "centrifugo_client_reader.hpp"
#include "client_codec.hpp"
#include "client_socket.hpp"
#include "completion_driver.hpp"
#include "http_response_reader.hpp"
#include "loop_clock.hpp"
#include "pubsub_payload.hpp"
#include "sequence_tracker.hpp"
#include "upgrade_verdict.hpp"
#include "worker_loop.hpp"
#include "xorshift.hpp"

namespace wsgate::bench {
namespace {

constexpr std::uint32_t kBufferSize = 16384, kBufferCount = 4096;
constexpr std::uint64_t kTickNs = 50'000'000;  // timeouts and drain checks this often
constexpr std::uint64_t kHandshakeTimeoutNs = 10 * kNsPerSecond;
// Generous: a server closing 100,000 connections at once takes seconds.
constexpr std::uint64_t kCloseTimeoutNs = 10 * kNsPerSecond;
// After kStop: publishers get this long for their last answers.
constexpr std::uint64_t kAnswerWaitNs = 5 * kNsPerSecond;
constexpr std::size_t kMaxServerMessage = 1 << 20;
// Open loop: a publisher this far behind (unanswered, or bytes not yet
// written) skips the publication and counts it missed instead of queueing
// without bound.
constexpr std::uint64_t kMaxUnanswered = 4096;
constexpr std::size_t kMaxQueuedBytes = 4 << 20;
constexpr std::uint64_t kMaxCatchUpNs = kNsPerSecond;  // slips beyond this are skipped
constexpr std::uint64_t kDeliveryPollNs = 100'000;     // closed loop across workers
constexpr std::uint32_t kConnectId = 1;                // subscribe j has id j + 2

enum class Role : std::uint8_t { kSubscriber, kWsPublisher, kHttpPublisher };
enum class State : std::uint8_t {
    kUnused,
    kConnecting,
    kHandshaking,  // WebSocket upgrade sent
    kHello,        // connect (and subscribes) sent, replies outstanding
    kOpen,
    kClosing,
    kDone
};

struct Publisher {
    std::uint32_t index = 0;  // p
    std::uint32_t next_id = kConnectId + 1;
    std::uint64_t sent = 0, answered = 0;
    std::uint64_t turn = 0;         // publications so far: the next goes to channel (p + turn) % K
    std::uint64_t next_due_ns = 0;  // open loop
    // Closed loop: deliveries owed by everything sent so far, and after each of
    // the last few publications (a ring indexed by the publication's number).
    std::uint64_t expected = 0;
    std::vector<std::uint64_t> expected_after;
    std::uint64_t blocked_since_ns = 0;   // waiting for deliveries since; 0: not waiting
    bool done = false;                    // counted in publishers_done
    std::vector<std::uint64_t> sequence;  // per channel: the last number used
    std::unique_ptr<HttpResponseReader> http;
};

struct Subscriber {
    std::uint32_t index = 0;  // s
    std::uint32_t hello_pending = 0;
    bool streams_finished = false;
    std::vector<SequenceTracker> streams;  // [j * publishers + p]
    std::vector<OffsetTracker> offsets;    // [j]
};

struct Conn {
    int fd = -1;
    std::uint16_t gen = 0;
    State state = State::kUnused;
    Role role = Role::kSubscriber;
    bool send_busy = false;
    bool close_sent = false;
    bool was_up = false;
    std::uint32_t send_done = 0;
    std::uint64_t deadline_ns = 0;
    std::string accept;  // expected Sec-WebSocket-Accept while handshaking
    std::string received;
    std::string out, sending;
    std::unique_ptr<ServerMessageReader> reader;
    std::unique_ptr<Publisher> pub;
    std::unique_ptr<Subscriber> sub;
};

class PubsubWorker {
  public:
    PubsubWorker(const Options& o, const WorkerPlan& plan, SharedControl& control,
                 WorkerStats& stats, const PubsubShared& shared)
        : o_(o),
          plan_(plan),
          control_(control),
          stats_(stats),
          shared_(shared),
          data_size_(std::max<std::size_t>(o.payload_bytes, kMinPublicationData)),
          conns_(plan.count),
          rng_(plan.first_index) {
        dst_ = target_address(o);
        for (std::uint32_t k = 0; k < o.channels && o.publishers > 0; ++k)
            channel_names_.push_back(channel_name(k));
        // Subscriber s takes channels (s + j) % K for j < M: channel k is taken
        // once by every s congruent to k - j modulo K.
        auto congruent = [&](std::uint64_t r) -> std::uint64_t {
            return r < o.connections ? (o.connections - 1 - r) / o.channels + 1 : 0;
        };
        if (o.publishers > 0) {
            fanout_.assign(o.channels, 0);
            for (std::uint32_t k = 0; k < o.channels; ++k)
                for (std::uint32_t j = 0; j < o.subscriptions; ++j)
                    fanout_[k] += congruent((k + o.channels - j % o.channels) % o.channels);
        }
        delivered_local_.assign(o.stamp_publishers(), 0);
        if (o.publish_rate > 0)
            interval_ns_ = static_cast<std::uint64_t>(static_cast<double>(kNsPerSecond) *
                                                      o.publishers / o.publish_rate);
    }

    int run();

    // CompletionHandler (completion_driver.hpp)
    const Conn& conn(std::uint32_t i) const { return conns_[i]; }
    std::size_t slot_count() const { return conns_.size(); }
    bool done(std::uint32_t i) const { return conns_[i].state == State::kDone; }
    bool receiving(std::uint32_t i) const {
        const State s = conns_[i].state;
        return s != State::kUnused && s != State::kConnecting && s != State::kDone;
    }
    bool closing(std::uint32_t i) const { return conns_[i].state == State::kClosing; }
    void on_connected(std::uint32_t i);
    void on_send(std::uint32_t i, int res);
    void consume(std::uint32_t i, std::span<const std::uint8_t> data);
    void finish(std::uint32_t i);
    void fail(std::uint32_t i, ErrorKind kind);
    // WorkerMode (worker_loop.hpp)
    void enter_phase(Phase p);
    void step();
    void tick();
    bool finished() const {
        return phase_ == Phase::kStop && (active_ == 0 || now_ >= stop_deadline_);
    }
    std::uint64_t wait_ns(std::uint64_t until_tick) const;
    void after_turn() { share_deliveries(); }

  private:
    std::uint32_t global(std::uint32_t i) const { return plan_.first_index + i; }
    void open_more();
    void start_connect(std::uint32_t i);
    void consume_handshake(std::uint32_t i, std::span<const std::uint8_t> data);
    void consume_frames(std::uint32_t i, std::span<const std::uint8_t> data);
    void consume_http(std::uint32_t i, std::span<const std::uint8_t> data);
    void on_line(std::uint32_t i, std::string_view line);
    void on_publication(std::uint32_t i, const ServerLine& line);
    void on_reply(std::uint32_t i, const ServerLine& line);
    void on_control(std::uint32_t i);
    void became_up(std::uint32_t i);
    void publish(std::uint32_t i, std::uint64_t stamp_ns);
    void on_answer(std::uint32_t i, bool ok);
    void pump_open_loop();
    void pump_closed_loop();
    bool may_publish_closed(Publisher& p);
    std::uint64_t delivered_to_subscribers(std::uint32_t publisher) const;
    void share_deliveries();
    std::uint64_t next_due() const;
    void check_publishers_done();
    void check_drain();
    void send_text(std::uint32_t i, std::string_view payload);
    void flush_send(std::uint32_t i);
    void begin_close(std::uint32_t i);
    void publish_counts();
    bool publishing() const { return phase_ == Phase::kWarmup || phase_ == Phase::kMeasure; }

    const Options& o_;
    const WorkerPlan plan_;
    SharedControl& control_;
    WorkerStats& stats_;
    const PubsubShared shared_;
    const std::size_t data_size_;
    std::vector<std::string> channel_names_;
    std::vector<std::uint64_t> fanout_;           // per channel: subscriptions to it in the run
    std::vector<std::uint64_t> delivered_local_;  // per publisher: this worker's deliveries
    bool delivered_dirty_ = false;
    bool waiting_on_deliveries_ = false;
    std::vector<Conn> conns_;
    std::vector<std::uint32_t> publishers_;  // indices of this worker's publisher connections
    std::vector<std::uint32_t> deferred_;    // HTTP publishers, connected at warm-up
    std::string scratch_;
    CompletionDriver io_;
    sockaddr_in dst_{};
    XorShift64 rng_;
    std::uint64_t interval_ns_ = 0;
    std::uint64_t now_ = 0;
    Phase phase_ = Phase::kBringUp;
    MeasureWindow window_;
    std::uint32_t next_to_open_ = 0, opening_ = 0, active_ = 0;
    std::uint64_t stop_at_ = 0, stop_deadline_ = 0;
    std::uint64_t all_published_at_ = 0;  // when every publisher had reported; 0: not yet
    bool drained_ = false;
    SequenceCounts counts_;
    std::uint64_t offset_errors_ = 0, offsets_checked_ = 0;
    bool reported_error_ = false;
};

int PubsubWorker::run() {
    if (!io_.setup(kBufferSize, kBufferCount)) return 1;
    stats_.assigned.store(plan_.count, std::memory_order_relaxed);
    if (!run_worker_loop(*this, io_, control_, phase_, now_, kTickNs)) return 1;
    for (auto& c : conns_)
        if (c.state == State::kClosing)
            add_relaxed(stats_.errors[int(ErrorKind::kCloseTimeout)], 1);
    publish_counts();
    return 0;
}

void PubsubWorker::step() {
    open_more();
    if (publishing()) {
        if (interval_ns_)
            pump_open_loop();
        else
            pump_closed_loop();
    }
}

std::uint64_t PubsubWorker::wait_ns(std::uint64_t until_tick) const {
    std::uint64_t wait = until_tick;
    if (interval_ns_ && publishing()) {
        const std::uint64_t due = next_due();
        wait = std::min(wait, due > now_ ? due - now_ : 0);
    }
    // Deliveries in other workers arrive through shared memory: look again soon.
    if (waiting_on_deliveries_ && publishing()) wait = std::min(wait, kDeliveryPollNs);
    return wait;
}

void PubsubWorker::publish_counts() {
    stats_.lost.store(counts_.lost, std::memory_order_relaxed);
    stats_.duplicates.store(counts_.duplicates, std::memory_order_relaxed);
    stats_.reordered.store(counts_.reordered, std::memory_order_relaxed);
    stats_.offset_errors.store(offset_errors_, std::memory_order_relaxed);
    stats_.offsets_checked.store(offsets_checked_, std::memory_order_relaxed);
}

void PubsubWorker::enter_phase(Phase p) {
    phase_ = p;
    switch (p) {
        case Phase::kBringUp:
            break;
        case Phase::kWarmup:
            for (const std::uint32_t i : deferred_)
                start_connect(i);
            deferred_.clear();
            for (const std::uint32_t i : publishers_)
                conns_[i].pub->next_due_ns =
                    now_ + interval_ns_ * conns_[i].pub->index / std::max(1u, o_.publishers);
            break;
        case Phase::kMeasure:
            window_.open();
            break;
        case Phase::kStop:
            window_.close(stats_.cpu_measure_ns);
            stop_at_ = now_;
            stop_deadline_ = now_ + static_cast<std::uint64_t>(pubsub_stop_budget_s(o_) * 1e9);
            // Connections still coming up are abandoned, not failed: the run is over.
            for (std::uint32_t i = 0; i < plan_.count; ++i) {
                Conn& c = conns_[i];
                if (c.state == State::kConnecting || c.state == State::kHandshaking ||
                    c.state == State::kHello || c.state == State::kUnused) {
                    abort_socket(c.fd);
                    if (c.pub && !c.pub->done) {
                        c.pub->done = true;
                        control_.publishers_done.fetch_add(1, std::memory_order_acq_rel);
                    }
                    if (c.state != State::kUnused) --active_;
                    c.state = State::kDone;
                    ++c.gen;
                }
            }
            check_publishers_done();
            break;
    }
}

// HTTP publishers connect only when publishing starts: a keep-alive
// connection left idle through a long bring-up would meet the server's
// request timeout (408) before its first request.
void PubsubWorker::open_more() {
    if (phase_ != Phase::kBringUp) return;
    while (next_to_open_ < plan_.count && opening_ < plan_.concurrency) {
        const std::uint32_t i = next_to_open_++;
        if (global(i) < o_.publishers && o_.publish_via == PublishVia::kHttpApi) {
            deferred_.push_back(i);
            add_relaxed(stats_.bringup_finished, 1);
            continue;
        }
        start_connect(i);
    }
}

void PubsubWorker::tick() {
    for (std::uint32_t i = 0; i < plan_.count; ++i) {
        Conn& c = conns_[i];
        if ((c.state == State::kConnecting || c.state == State::kHandshaking ||
             c.state == State::kHello) &&
            now_ >= c.deadline_ns)
            fail(i, ErrorKind::kTimeout);
        else if (c.state == State::kClosing && now_ >= c.deadline_ns)
            fail(i, ErrorKind::kCloseTimeout);
    }
    if (phase_ == Phase::kStop) {
        check_publishers_done();
        check_drain();
    }
    publish_counts();
}

// Connection i of this worker: a publisher when its global index is below
// --publishers, else a subscriber.
void PubsubWorker::start_connect(std::uint32_t i) {
    Conn& c = conns_[i];
    const std::uint32_t g = global(i);
    c.gen = static_cast<std::uint16_t>(c.gen + 1);
    c.state = State::kConnecting;
    c.deadline_ns = now_ + kHandshakeTimeoutNs;
    ++active_;
    ++opening_;
    if (g < o_.publishers) {
        c.role = o_.publish_via == PublishVia::kHttpApi ? Role::kHttpPublisher : Role::kWsPublisher;
        c.pub = std::make_unique<Publisher>();
        c.pub->index = g;
        c.pub->sequence.assign(o_.channels, 0);
        c.pub->expected_after.assign(o_.in_flight + 1, 0);
        if (c.role == Role::kHttpPublisher) c.pub->http = std::make_unique<HttpResponseReader>();
        publishers_.push_back(i);
    } else {
        c.role = Role::kSubscriber;
        c.sub = std::make_unique<Subscriber>();
        c.sub->index = g - o_.publishers;
        c.sub->streams.resize(std::size_t{o_.subscriptions} * o_.stamp_publishers());
        c.sub->offsets.resize(o_.subscriptions);
    }
    if (c.role != Role::kHttpPublisher)
        c.reader = std::make_unique<ServerMessageReader>(kMaxServerMessage);
    c.fd = open_client_socket(g % plan_.sources);
    if (c.fd < 0) {
        fail(i, ErrorKind::kConnect);
        return;
    }
    io_.connect(c.fd, dst_, c.gen, i);
}

void PubsubWorker::on_connected(std::uint32_t i) {
    Conn& c = conns_[i];
    if (c.role == Role::kHttpPublisher) {  // keep-alive HTTP: nothing to negotiate
        became_up(i);
        return;
    }
    c.state = State::kHandshaking;
    c.out = make_upgrade_request(o_.host_header, o_.path, c.accept);
    flush_send(i);
}

void PubsubWorker::consume(std::uint32_t i, std::span<const std::uint8_t> data) {
    switch (conns_[i].state) {
        case State::kHandshaking:
            consume_handshake(i, data);
            break;
        case State::kHello:
        case State::kOpen:
        case State::kClosing:
            if (conns_[i].role == Role::kHttpPublisher)
                consume_http(i, data);
            else
                consume_frames(i, data);
            break;
        default:
            break;
    }
}

void PubsubWorker::consume_handshake(std::uint32_t i, std::span<const std::uint8_t> data) {
    Conn& c = conns_[i];
    c.received.append(reinterpret_cast<const char*>(data.data()), data.size());
    std::size_t header_end = 0;
    const UpgradeVerdict verdict =
        judge_upgrade(check_upgrade_response(c.received, c.accept, header_end), c.received.size());
    if (verdict.step == UpgradeVerdict::Step::kFail) fail(i, verdict.error);
    if (verdict.step != UpgradeVerdict::Step::kUpgraded) return;
    const std::string rest = c.received.substr(header_end);
    c.received = std::string();
    c.accept = std::string();
    // connect, and the subscriptions, in one message as the SDK sends them
    c.state = State::kHello;
    if (c.role == Role::kSubscriber) {
        std::vector<std::uint32_t> channels(o_.subscriptions);
        for (std::uint32_t j = 0; j < o_.subscriptions; ++j)
            channels[j] = (c.sub->index + j) % o_.channels;
        c.sub->hello_pending = 1 + o_.subscriptions;
        send_text(i, subscriber_hello(channels.data(), channels.size()));
    } else {
        send_text(i, subscriber_hello(nullptr, 0));
    }
    if (!rest.empty())
        consume_frames(i, {reinterpret_cast<const std::uint8_t*>(rest.data()), rest.size()});
}

void PubsubWorker::consume_frames(std::uint32_t i, std::span<const std::uint8_t> data) {
    while (!data.empty() && conns_[i].state != State::kDone) {
        Conn& c = conns_[i];
        std::size_t used = 0;
        const ServerMessageReader::Status status = c.reader->next(data, used);
        data = data.subspan(used);
        switch (status) {
            case ServerMessageReader::Status::kNeedMore:
                return;
            case ServerMessageReader::Status::kText:
                for_each_line(c.reader->message(), [&](std::string_view line) {
                    if (conns_[i].state != State::kDone) on_line(i, line);
                });
                break;
            case ServerMessageReader::Status::kControl:
                on_control(i);
                break;
            case ServerMessageReader::Status::kProtocol:
                fail(i, ErrorKind::kProtocol);
                return;
        }
    }
}

void PubsubWorker::consume_http(std::uint32_t i, std::span<const std::uint8_t> data) {
    while (!data.empty() && conns_[i].state != State::kDone) {
        Conn& c = conns_[i];
        std::size_t used = 0;
        const HttpResponseReader::Status status = c.pub->http->next(data, used);
        data = data.subspan(used);
        if (status == HttpResponseReader::Status::kNeedMore) return;
        if (status == HttpResponseReader::Status::kMalformed) {
            fail(i, ErrorKind::kProtocol);
            return;
        }
        const bool ok =
            c.pub->http->status() == 200 && c.pub->http->body().starts_with("{\"result\"");
        if (!ok && !reported_error_) {
            reported_error_ = true;
            std::fprintf(stderr, "wsload: publish answered %d %.*s\n", c.pub->http->status(),
                         static_cast<int>(std::min<std::size_t>(200, c.pub->http->body().size())),
                         c.pub->http->body().data());
        }
        on_answer(i, ok);
    }
}

void PubsubWorker::on_line(std::uint32_t i, std::string_view line) {
    const ServerLine l = classify_line(line);
    switch (l.kind) {
        case ServerLine::Kind::kPing:  // answered as the SDK does when the server said pong:true
            send_text(i, "{}");
            break;
        case ServerLine::Kind::kPublication:
            on_publication(i, l);
            break;
        case ServerLine::Kind::kReply:
        case ServerLine::Kind::kErrorReply:
            on_reply(i, l);
            break;
        case ServerLine::Kind::kUnsubscribePush:
        case ServerLine::Kind::kDisconnectPush:
            if (!reported_error_) {
                reported_error_ = true;
                std::fprintf(stderr, "wsload: server push %.*s\n",
                             static_cast<int>(std::min<std::size_t>(200, line.size())),
                             line.data());
            }
            add_relaxed(stats_.errors[int(ErrorKind::kServerError)], 1);
            break;
        case ServerLine::Kind::kOtherPush:
            break;
        case ServerLine::Kind::kMalformed:
            fail(i, ErrorKind::kProtocol);
            break;
    }
}

void PubsubWorker::on_reply(std::uint32_t i, const ServerLine& l) {
    Conn& c = conns_[i];
    const bool ok = l.kind == ServerLine::Kind::kReply;
    if (!ok && !reported_error_) {
        reported_error_ = true;
        std::fprintf(stderr, "wsload: error reply to command %u: code %u\n", l.id, l.error_code);
    }
    if (c.state == State::kHello) {
        if (!ok) {
            fail(i, ErrorKind::kServerError);
            return;
        }
        if (c.role == Role::kWsPublisher) {
            if (l.id == kConnectId) became_up(i);
            return;
        }
        if (l.id > kConnectId && l.id - kConnectId - 1 < o_.subscriptions && l.has_offset)
            c.sub->offsets[l.id - kConnectId - 1].start_at(l.offset);
        if (--c.sub->hello_pending == 0) became_up(i);
        return;
    }
    if (c.role == Role::kWsPublisher && l.id > kConnectId)
        on_answer(i, ok);
    else if (!ok)
        add_relaxed(stats_.errors[int(ErrorKind::kServerError)], 1);
}

void PubsubWorker::on_publication(std::uint32_t i, const ServerLine& l) {
    Conn& c = conns_[i];
    PublicationStamp stamp;
    std::size_t length = 0;
    std::uint32_t k = 0;
    if (c.role != Role::kSubscriber || !parse_channel_index(l.channel, k) || k >= o_.channels ||
        !parse_publication_data(l.data, stamp, length) || length != data_size_ ||
        stamp.publisher >= o_.stamp_publishers()) {
        fail(i, ErrorKind::kDataMismatch);
        return;
    }
    const std::uint32_t j = (k + o_.channels - c.sub->index % o_.channels) % o_.channels;
    if (j >= o_.subscriptions) {  // a channel this subscriber never asked for
        fail(i, ErrorKind::kDataMismatch);
        return;
    }
    c.sub->streams[std::size_t{j} * o_.stamp_publishers() + stamp.publisher].deliver(stamp.sequence,
                                                                                     counts_);
    if (l.has_offset) {
        ++offsets_checked_;
        if (!c.sub->offsets[j].deliver(l.offset)) ++offset_errors_;
    }
    ++delivered_local_[stamp.publisher];
    delivered_dirty_ = true;
    const std::uint64_t latency = now_ > stamp.sent_ns ? now_ - stamp.sent_ns : 0;
    stats_.latency_all.record(latency);
    add_relaxed(stats_.messages_all, 1);
    if (window_.on()) {
        stats_.latency.record(latency);
        add_relaxed(stats_.messages, 1);
        add_relaxed(stats_.payload_bytes, length);
    }
}

void PubsubWorker::on_control(std::uint32_t i) {
    Conn& c = conns_[i];
    const std::string& payload = c.reader->control_payload();
    switch (c.reader->control_opcode()) {
        case kOpPing: {  // RFC 6455 §5.5.2
            add_relaxed(stats_.server_pings, 1);
            if (c.close_sent) break;
            std::uint8_t mask[4];
            const std::uint64_t r = rng_.next();
            std::memcpy(mask, &r, sizeof mask);
            append_masked_frame(c.out, kOpPong, payload, mask);
            flush_send(i);
            break;
        }
        case kOpClose:
            if (c.close_sent) break;  // the answer to ours: the server's EOF follows
            if (phase_ != Phase::kStop) {
                add_relaxed(stats_.errors[int(ErrorKind::kUnexpectedClose)], 1);
                if (!reported_error_ && payload.size() >= 2) {
                    reported_error_ = true;
                    std::fprintf(stderr, "wsload: server closed with %d %.*s\n",
                                 (static_cast<unsigned char>(payload[0]) << 8) |
                                     static_cast<unsigned char>(payload[1]),
                                 static_cast<int>(payload.size() - 2), payload.data() + 2);
                }
            }
            {
                std::uint8_t mask[4] = {1, 2, 3, 4};
                append_masked_frame(
                    c.out, kOpClose,
                    std::string_view(payload).substr(0, std::min<std::size_t>(2, payload.size())),
                    mask);
            }
            c.close_sent = true;
            c.state = State::kClosing;
            c.deadline_ns = now_ + kCloseTimeoutNs;
            flush_send(i);
            break;
        default:
            break;
    }
}

void PubsubWorker::became_up(std::uint32_t i) {
    Conn& c = conns_[i];
    c.state = State::kOpen;
    c.was_up = true;
    --opening_;
    count_up(stats_);
    add_relaxed(stats_.bringup_finished, 1);
    if (c.role == Role::kSubscriber) add_relaxed(stats_.subscriptions_up, o_.subscriptions);
    if (c.pub && publishing()) c.pub->next_due_ns = now_;  // up late: join the load
}

// Publication number `turn` of publisher p goes to channel (p + turn) % K with
// that channel's next sequence number.
void PubsubWorker::publish(std::uint32_t i, std::uint64_t stamp_ns) {
    Conn& c = conns_[i];
    Publisher& p = *c.pub;
    const auto k = static_cast<std::uint32_t>((p.index + p.turn++) % o_.channels);
    PublicationStamp stamp{p.index, ++p.sequence[k], stamp_ns};
    shared_.published[std::size_t{p.index} * o_.channels + k].store(stamp.sequence,
                                                                    std::memory_order_relaxed);
    ++p.sent;
    p.expected += fanout_[k];
    p.expected_after[p.sent % p.expected_after.size()] = p.expected;
    if (c.role == Role::kHttpPublisher) {
        append_api_publish_request(c.out, o_.host_header, o_.api_key, channel_names_[k], stamp,
                                   o_.payload_bytes);
        flush_send(i);
    } else {
        scratch_.clear();
        append_publish_command(scratch_, p.next_id++, channel_names_[k], stamp, o_.payload_bytes);
        send_text(i, scratch_);
    }
}

void PubsubWorker::on_answer(std::uint32_t i, bool ok) {
    Conn& c = conns_[i];
    Publisher& p = *c.pub;
    ++p.answered;
    add_relaxed(stats_.publications_all, 1);
    if (!ok) add_relaxed(stats_.publish_errors, 1);
    if (window_.on()) add_relaxed(stats_.publications, 1);
    if (phase_ == Phase::kStop) check_publishers_done();
}

std::uint64_t PubsubWorker::delivered_to_subscribers(std::uint32_t publisher) const {
    std::uint64_t sum = 0;
    for (std::uint32_t w = 0; w < shared_.workers; ++w)
        sum += shared_.delivered[std::size_t{w} * o_.stamp_publishers() + publisher].load(
            std::memory_order_relaxed);
    return sum;
}

void PubsubWorker::share_deliveries() {
    if (!delivered_dirty_) return;
    delivered_dirty_ = false;
    for (std::uint32_t p = 0; p < o_.stamp_publishers(); ++p)
        shared_.delivered[std::size_t{plan_.worker} * o_.stamp_publishers() + p].store(
            delivered_local_[p], std::memory_order_relaxed);
}

// Closed loop, -d D: publication n + 1 goes out once n - D + 1 and every
// earlier one have been delivered to all their subscribers (counted in
// deliveries, so approximately when publications interleave) and fewer than D
// are unanswered. A subscriber that went away would stall it: after a second
// without the deliveries it publishes anyway.
bool PubsubWorker::may_publish_closed(Publisher& p) {
    const std::uint64_t d = o_.in_flight;
    if (p.sent - p.answered >= d) return false;
    if (p.sent < d) return true;
    const std::uint64_t owed = p.expected_after[(p.sent - d + 1) % p.expected_after.size()];
    if (delivered_to_subscribers(p.index) >= owed) {
        p.blocked_since_ns = 0;
        return true;
    }
    if (p.blocked_since_ns == 0) p.blocked_since_ns = now_;
    waiting_on_deliveries_ = true;
    return now_ - p.blocked_since_ns >= kNsPerSecond;
}

void PubsubWorker::pump_closed_loop() {
    waiting_on_deliveries_ = false;
    for (const std::uint32_t i : publishers_) {
        if (conns_[i].state != State::kOpen) continue;
        while (conns_[i].state == State::kOpen && may_publish_closed(*conns_[i].pub)) {
            conns_[i].pub->blocked_since_ns = 0;
            publish(i, now_);
        }
    }
}

std::uint64_t PubsubWorker::next_due() const {
    std::uint64_t due = UINT64_MAX;
    for (const std::uint32_t i : publishers_)
        if (conns_[i].state == State::kOpen) due = std::min(due, conns_[i].pub->next_due_ns);
    return due;
}

// Open loop: every publication whose time has come goes out stamped with that
// time (so a late one shows its wait in the latency, not hidden by it).
void PubsubWorker::pump_open_loop() {
    for (const std::uint32_t i : publishers_) {
        Conn& c = conns_[i];
        if (c.state != State::kOpen) continue;
        Publisher& p = *c.pub;
        if (now_ > p.next_due_ns + kMaxCatchUpNs) {
            const std::uint64_t skipped = (now_ - p.next_due_ns) / interval_ns_;
            add_relaxed(stats_.publish_missed, skipped);
            p.next_due_ns += skipped * interval_ns_;
        }
        while (p.next_due_ns <= now_) {
            if (p.sent - p.answered >= kMaxUnanswered || c.out.size() >= kMaxQueuedBytes)
                add_relaxed(stats_.publish_missed, 1);
            else
                publish(i, p.next_due_ns);
            p.next_due_ns += interval_ns_;
        }
    }
}

// After kStop: a publisher whose every publication was answered (or that ran
// out of time) is counted done once and closed.
void PubsubWorker::check_publishers_done() {
    for (const std::uint32_t i : publishers_) {
        Conn& c = conns_[i];
        Publisher& p = *c.pub;
        if (p.done) continue;
        const bool settled =
            c.state != State::kOpen || p.answered >= p.sent || now_ >= stop_at_ + kAnswerWaitNs;
        if (!settled) continue;
        p.done = true;
        control_.publishers_done.fetch_add(1, std::memory_order_acq_rel);
        if (c.state == State::kOpen) begin_close(i);
    }
}

// After every publisher reported: each subscriber waits until it has the last
// publication of every stream, or --drain seconds; then whatever is missing
// is lost, and it closes.
void PubsubWorker::check_drain() {
    if (drained_) return;
    if (control_.publishers_done.load(std::memory_order_acquire) < o_.publishers &&
        now_ < stop_at_ + kAnswerWaitNs + kTickNs)
        return;
    if (all_published_at_ == 0) all_published_at_ = now_;
    const bool timed_out =
        now_ >= all_published_at_ + static_cast<std::uint64_t>(o_.drain_s * kNsPerSecond);
    bool all_complete = true;
    for (std::uint32_t i = 0; i < plan_.count && all_complete; ++i) {
        const Conn& c = conns_[i];
        if (c.role != Role::kSubscriber || c.state != State::kOpen) continue;
        for (std::uint32_t j = 0; j < o_.subscriptions && all_complete; ++j) {
            const std::uint32_t k = (c.sub->index + j) % o_.channels;
            for (std::uint32_t p = 0; p < o_.publishers; ++p) {
                const std::uint64_t last = shared_.published[std::size_t{p} * o_.channels + k].load(
                    std::memory_order_relaxed);
                if (c.sub->streams[std::size_t{j} * o_.stamp_publishers() + p].highest() < last) {
                    all_complete = false;
                    break;
                }
            }
        }
    }
    if (!all_complete && !timed_out) return;
    drained_ = true;
    for (std::uint32_t i = 0; i < plan_.count; ++i) {
        Conn& c = conns_[i];
        if (c.role != Role::kSubscriber || c.state != State::kOpen) continue;
        for (std::uint32_t j = 0; j < o_.subscriptions; ++j) {
            const std::uint32_t k = (c.sub->index + j) % o_.channels;
            for (std::uint32_t p = 0; p < o_.publishers; ++p)
                c.sub->streams[std::size_t{j} * o_.stamp_publishers() + p].finish(
                    shared_.published[std::size_t{p} * o_.channels + k].load(
                        std::memory_order_relaxed),
                    counts_);
        }
        begin_close(i);
    }
    publish_counts();
}

void PubsubWorker::send_text(std::uint32_t i, std::string_view payload) {
    Conn& c = conns_[i];
    std::uint8_t mask[4];
    const std::uint64_t r = rng_.next();
    std::memcpy(mask, &r, sizeof mask);
    append_masked_frame(c.out, kOpText, payload, mask);
    flush_send(i);
}

void PubsubWorker::flush_send(std::uint32_t i) {
    Conn& c = conns_[i];
    if (c.send_busy || c.fd < 0 || c.out.empty()) return;
    c.sending.swap(c.out);
    c.out.clear();
    c.send_done = 0;
    c.send_busy = true;
    io_.send(c.fd, c.sending.data(), c.sending.size(), c.gen, i);
}

void PubsubWorker::on_send(std::uint32_t i, int res) {
    Conn& c = conns_[i];
    c.send_busy = false;
    if (res < 0) {
        fail(i, ErrorKind::kSend);
        return;
    }
    const std::span<const std::uint8_t> whole{
        reinterpret_cast<const std::uint8_t*>(c.sending.data()), c.sending.size()};
    if (io_.send_rest(c.fd, whole, c.send_done, res, c.gen, i)) {  // short write: the rest first
        c.send_busy = true;
        return;
    }
    c.sending.clear();
    flush_send(i);
}

void PubsubWorker::begin_close(std::uint32_t i) {
    Conn& c = conns_[i];
    c.state = State::kClosing;
    c.deadline_ns = now_ + kCloseTimeoutNs;
    if (c.role == Role::kHttpPublisher) {  // HTTP: our FIN, then the server's
        shutdown(c.fd, SHUT_WR);
        return;
    }
    const std::uint8_t code[2] = {kCloseNormal >> 8, kCloseNormal & 0xFF};
    const std::uint8_t mask[4] = {5, 6, 7, 8};
    append_masked_frame(c.out, kOpClose,
                        std::string_view(reinterpret_cast<const char*>(code), sizeof code), mask);
    c.close_sent = true;
    flush_send(i);
}

void PubsubWorker::finish(std::uint32_t i) {
    Conn& c = conns_[i];
    close(c.fd);
    c.fd = -1;
    c.state = State::kDone;
    ++c.gen;
    --active_;
    if (c.was_up) sub_relaxed(stats_.connections_up, 1);
}

void PubsubWorker::fail(std::uint32_t i, ErrorKind kind) {
    Conn& c = conns_[i];
    add_relaxed(stats_.errors[static_cast<int>(kind)], 1);
    abort_socket(c.fd);
    if (c.state == State::kConnecting || c.state == State::kHandshaking ||
        c.state == State::kHello) {
        --opening_;
        add_relaxed(stats_.bringup_finished, 1);
    }
    if (c.was_up) sub_relaxed(stats_.connections_up, 1);
    if (c.pub && !c.pub->done && phase_ == Phase::kStop) {
        c.pub->done = true;
        control_.publishers_done.fetch_add(1, std::memory_order_acq_rel);
    }
    c.state = State::kDone;
    ++c.gen;
    --active_;
}

}  // namespace

double pubsub_stop_budget_s(const Options& o) {
    return static_cast<double>(kAnswerWaitNs + kCloseTimeoutNs) / 1e9 + o.drain_s + 1.0;
}

int run_pubsub_worker(const Options& options, const WorkerPlan& plan, SharedControl& control,
                      WorkerStats& stats, const PubsubShared& shared) {
    PubsubWorker worker(options, plan, control, stats, shared);
    const int rc = worker.run();
    stats.exited.store(1, std::memory_order_release);
    return rc;
}

}  // namespace wsgate::bench
