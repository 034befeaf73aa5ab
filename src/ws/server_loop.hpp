// One per-core server loop: owns a backend (io_uring or epoll, a template
// parameter), the connection pool, the timer wheel and the output chunks of
// its connections (shared-nothing). Drives each connection through
//   http (request heads) -> open (WebSocket) -> closing -> lingering -> released.
//
// App (a template parameter, no virtual calls) is an Application of this
// loop (ws/application.hpp): on_open / on_message_piece / on_close for
// WebSocket connections, on_http_request for plain requests (with their
// whole Content-Length body, at most --max-request-bytes), answered at once
// or later (respond_http: http -> responding -> http or lingering). The
// loop is its ConnectionTable: the app may send to, close, or keep a word
// of state for any connection of the loop by ConnectionHandle.
#pragma once

#include <openssl/crypto.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/loop_counters.hpp"
#include "io/out_queue.hpp"
#include "io/outbound_connect.hpp"
#include "io/slot_pool.hpp"
#include "io/socket_state.hpp"
#include "io/timer_wheel.hpp"
#include "proto/close_code.hpp"
#include "proto/frame_writer.hpp"
#include "proto/http_body_framing.hpp"
#include "proto/http_request.hpp"
#include "proto/http_response.hpp"
#include "proto/upgrade_request.hpp"
#include "tls/ktls_socket.hpp"
#include "tls/tls_loop.hpp"
#include "ws/application.hpp"
#include "ws/connection.hpp"
#include "ws/connection_export.hpp"
#include "ws/connection_handle.hpp"
#include "ws/connection_log.hpp"
#include "ws/handshake_queue.hpp"
#include "ws/log_throttle.hpp"
#include "ws/loop_compression.hpp"
#include "ws/loop_message.hpp"
#include "ws/loop_metrics.hpp"
#include "ws/loop_settings.hpp"
#include "ws/memory_release.hpp"
#include "ws/message_rate_limit.hpp"
#include "ws/outbound.hpp"
#include "ws/parked_input.hpp"
#include "ws/peer_admission.hpp"
#include "ws/peer_key.hpp"
#include "ws/peer_table.hpp"
#include "ws/refusal_log.hpp"
#include "ws/relay_table.hpp"
#include "ws/settings_update.hpp"
#include "ws/stream_application.hpp"
#include "ws/trace_escape.hpp"

namespace wsgate::ws {

// Connections accepted beyond max_connections still get a slot, so they can
// be answered 503 cleanly instead of being reset. Refused connections (any
// error answer) stop counting against max_connections and linger here.
inline constexpr uint32_t kRefusalSlots = 1024;

// Admission of new connections (a slow-loris defence): a connection counts
// as a handshake while it reads a request head (before its upgrade, and
// between the requests of a keep-alive HTTP connection), under its own
// process-wide limit (max_handshakes) and a per-address cap per loop.
//  - Over the per-address cap: 429 at once (the address's own handshakes
//    are not displaced by it).
//  - At max_handshakes or max_connections: one of the loop's handshakes is
//    dropped (408) to make room, so a flood of slow heads cannot lock honest
//    clients out: an honest head arrives whole right behind the TCP
//    handshake, a slow one arrives in pieces. First choice: the oldest that
//    sent part of a head and stopped short; else the oldest that sent
//    nothing, once it is kMinDisplaceableMs old and kMinDisplaceableTurns
//    loop turns have begun since its accept (a backlog of accepts handled
//    in one turn must not push out heads that were sent but not read yet:
//    on io_uring a head present at accept completes in the next turn,
//    possibly after more accepts).
//    With nothing to drop at max_connections the loop answers 503, so
//    established connections are never displaced. With nothing to drop at
//    max_handshakes (a burst of newcomers, none old enough), the newcomer
//    gets a probation of kProbationTicks without a slot: a head complete
//    within it is served if max_connections allows (it no longer needs a
//    handshake slot), else it gets 503.
//  - Under pressure (more than half of max_handshakes in progress): new
//    handshakes get the short busy deadline, older ones past it are dropped
//    oldest first, and refused connections linger at most that long.

template <template <class> class Backend, class App>
class ServerLoop {
  public:
    using Self = ServerLoop<Backend, App>;

    // inbox: where other threads post to this loop (shutdown, messages for
    // the app), opened by the caller and outliving the loop. loop_id: this
    // loop's number among the process's loops (in its handles).
    ServerLoop(const LoopSettings& settings, LoopShared& shared, App& app, LoopInbox& inbox,
               uint32_t loop_id = 0)
        : loop_id_(loop_id),
          inbox_(inbox),
          settings_(settings),
          shared_(shared),
          app_(app),
          pool_(settings.max_connections + kRefusalSlots + settings.max_outbound),
          peers_(std::min(settings.max_handshakes, settings.max_connections)),
          rates_(settings.edge, pool_.capacity()),
          compression_(settings.deflate, settings.max_message_bytes, settings.deflate_max_streams),
          tls_(settings.tls, settings.tls_listeners, chunks_),
          backend_(*this) {
        decoder_config_.max_message_bytes = settings.max_message_bytes;
        chunks_.set_lend_release({&release_lent, this});
        peer_seed_ = random_peer_seed();
        clock_gettime(CLOCK_MONOTONIC, &start_);
        // The loop's clock starts kClockHeadroomS in: a connection adopted
        // from an older process (live upgrade) may have been quiet since
        // before this loop existed, and its last-receive tick must still be
        // a tick of this clock.
        start_.tv_sec -= kClockHeadroomS;
        metrics_.backend = Backend<Self>::kName;
        metrics_.settings_generation.set(static_cast<int64_t>(settings.generation));
        static_assert(Application<App, Self>, "App must be an Application of this loop");
    }
    ~ServerLoop() {
        inbox_.wake().set_ring_fd(-1);  // producers fall back to the eventfd
        pool_.for_each([this](uint32_t index, Connection& c) {
            backend_.forget(c.sock);
            drop_buffers(index, c);
        });
    }
    ServerLoop(const ServerLoop&) = delete;
    ServerLoop& operator=(const ServerLoop&) = delete;

    // Sets up the backend in the calling thread. Returns 0 or -errno.
    // io_uring loops publish their ring so that other io_uring loops can
    // wake them with IORING_OP_MSG_RING instead of the eventfd.
    int init(std::span<const int> listeners) {
        int rc = backend_.init(settings_.backend, listeners, inbox_.wake().event_fd());
        if (rc == 0) inbox_.wake().set_ring_fd(backend_.message_ring_fd());
        return rc;
    }

    // Runs until shutdown has been requested and every connection is gone.
    void run() {
        while (!done()) {
            // Between turns, not in after_events: connections are released at
            // the end of a turn, and the drop must be seen before the loop
            // decides how long it may sleep.
            if (release_timer_.note(uint64_t{pool_.size()} + chunks_.outstanding(), now_)) {
                release_memory();
            }
            backend_.run_turn(ms_to_sleep());
        }
    }

    // One loop turn waiting at most timeout_ms (tests drive the loop with it).
    void turn(int timeout_ms) { backend_.run_turn(timeout_ms); }
    bool done() const { return stopping_ && pool_.size() == 0; }

    // Observability for tests and stats.
    uint32_t connection_count() const { return pool_.size(); }
    size_t output_chunks() const { return chunks_.outstanding(); }
    uint32_t held_receive_buffers() const { return backend_.held_buffers(); }
    // System calls, submissions and completions of this loop (--io-stats).
    io::LoopCounters& io_counters() { return backend_.counters(); }
    uint32_t lent_receive_buffers() const { return backend_.lent_buffers(); }
    // The largest output queue any connection of this loop has had, in bytes
    // (the --max-queued-bytes guarantee, see config.cpp), and input parked now.
    size_t peak_queued_bytes() const { return peak_queued_; }
    size_t parked_input_bytes() const { return parked_.bytes(); }
    size_t peak_parked_input_bytes() const { return parked_.peak_connection_bytes(); }
    const CompressionStats& compression_stats() const { return compression_.stats(); }
    // Counters and gauges for GET /metrics, read from other threads
    // (ws/loop_metrics.hpp).
    const LoopMetrics& metrics() const { return metrics_; }

    // ---- the application's view of the loop (ConnectionTable) ----

    uint32_t loop_id() const { return loop_id_; }

    SendResult send_frame(ConnectionHandle h, io::SharedBytes& frame) {
        uint32_t index = 0;
        Connection* c = sendable(h, index);
        if (c == nullptr) return SendResult::gone;
        if (c->out_in_message) return SendResult::busy;  // RFC 6455 §5.4: no interleaving
        if (over_cap(index, *c)) return SendResult::over_cap;
        c->out.append_shared(chunks_, frame);
        count_sent(message_kind(static_cast<proto::Opcode>(frame.data()[0] & 0x0F)), frame.size());
        after_output(index, *c);
        return SendResult::queued;
    }

    // The frame of `message` this connection's compression agreement reads
    // (plain, or compressed once per agreement), queued by reference.
    SendResult send_shared(ConnectionHandle h, SharedMessage& message) {
        uint32_t index = 0;
        Connection* c = sendable(h, index);
        if (c == nullptr) return SendResult::gone;
        if (c->out_in_message) return SendResult::busy;
        if (over_cap(index, *c)) return SendResult::over_cap;
        c->out.append_shared(chunks_, message.frame_for(c->compression, compression_));
        count_sent(message_kind(message.opcode()), message.payload_size());
        after_output(index, *c);
        return SendResult::queued;
    }

    SendResult send_message(ConnectionHandle h, proto::Opcode opcode,
                            std::span<const uint8_t> bytes) {
        uint32_t index = 0;
        Connection* c = sendable(h, index);
        if (c == nullptr) return SendResult::gone;
        if (c->out_in_message) return SendResult::busy;
        if (over_cap(index, *c)) return SendResult::over_cap;
        outbound(*c).send_message_piece(opcode, bytes, true);
        after_compressed_send(index, *c);
        after_output(index, *c);
        return SendResult::queued;
    }

    bool close(ConnectionHandle h, uint16_t code, std::string_view reason) {
        uint32_t index = 0;
        Connection* c = sendable(h, index);
        if (c == nullptr || c->close_sent) return false;
        fail(index, *c, static_cast<proto::CloseCode>(code), reason);
        return true;
    }

    // Posts to another loop's inbox (a cross-loop publication, say) from
    // this loop's thread; false when that inbox is full (nothing posted).
    // The wake it may owe goes out with this turn's submission.
    bool post_to(LoopInbox& target, const LoopMessage& m) {
        io::PostResult r = target.post(m);
        if (r == io::PostResult::full) return false;
        if (r == io::PostResult::queued_wake_owed) backend_.wake_loop(target.wake());
        return true;
    }

    bool respond_http(ConnectionHandle h, std::span<const uint8_t> response, bool keep_alive) {
        Connection* c = resolve(pool_, loop_id_, h);
        if (c == nullptr || c->state != ConnState::responding || c->sock.closing) return false;
        const uint32_t index = h.index();
        size_t before = c->out.size();
        c->out.append(chunks_, response);
        if (settings_.trace) trace_queued(index, *c, before);
        enter(*c, ConnState::http);
        after_response(index, *c, keep_alive);
        resume_parked(index, *c);
        after_output(index, *c);
        return true;
    }

    uint64_t* app_state(ConnectionHandle h) {
        Connection* c = resolve(pool_, loop_id_, h);
        return c == nullptr || !c->app_opened ? nullptr : &c->app_state;
    }

    // ---- byte streams (StreamTable, ws/stream_application.hpp) ----

    ConnectionHandle connect(const sockaddr* addr, socklen_t len, uint32_t timeout_ms, int* error) {
        if (stopping_ ||
            (settings_.backend.direct_descriptors && !settings_.backend.outbound_direct)) {
            *error = stopping_ ? -ESHUTDOWN : -EOPNOTSUPP;
            return {};
        }
        int fd = io::start_connect(addr, len);
        if (fd < 0) {
            *error = fd;
            return {};
        }
        uint32_t index = pool_.allocate(decoder_config_);
        if (index == io::SlotPool<Connection>::kNone) {
            ::close(fd);
            *error = -ENOBUFS;
            return {};
        }
        Connection& c = pool_[index];
        c.sock.fd = fd;
        c.state = ConnState::connecting;
        metrics_.connections[static_cast<size_t>(ConnPhase::handshaking)].add();
        c.listener = LoopMetrics::kOutboundSlot;
        metrics_.by_listener[c.listener].opened();
        c.stream = true;
        if (int rc = backend_.watch_connect(index, generation(index), c.sock); rc != 0) {
            *error = rc;
            close_now(index, c);
            return {};
        }
        c.app_opened = true;
        c.last_rx_tick = now_;
        // From the clock now (the turn may have run long), and one tick more:
        // the wheel may fire up to a tick early, a timeout never should.
        uint32_t ticks = (timeout_ms + kTickMs - 1) / kTickMs + 1;
        timers_.schedule(index, static_cast<uint32_t>(elapsed_ms() / kTickMs) + ticks);
        *error = 0;
        return handle(index);
    }

    SendResult send_stream(ConnectionHandle h, std::span<const uint8_t> bytes) {
        Connection* c = resolve(pool_, loop_id_, h);
        if (c == nullptr || c->state != ConnState::stream || c->sock.closing) {
            return SendResult::gone;
        }
        if (over_cap(h.index(), *c)) {
            c->drain_wanted = true;
            return SendResult::over_cap;
        }
        if (!lend_stream_bytes(*c, bytes)) c->out.append(chunks_, bytes);
        c->last_rx_tick = now_;  // a stream being written to is not idle
        after_output(h.index(), *c);
        return SendResult::queued;
    }

    bool resume_reading(ConnectionHandle h) {
        Connection* c = resolve(pool_, loop_id_, h);
        if (c == nullptr || c->sock.closing) return false;
        if (c->state == ConnState::open && c->relay_paused) {
            c->relay_paused = false;  // paused by pause_reading: its own cap still counts
            if (c->input_parked) {
                parked_.schedule(h.index(), h.generation());
            } else if (!over_cap(h.index(), *c)) {
                backend_.set_reading(h.index(), h.generation(), c->sock, true);
            }
            return true;
        }
        if (c->state != ConnState::stream) return false;
        if (c->input_parked) {
            parked_.schedule(h.index(), h.generation());
        } else {
            backend_.set_reading(h.index(), h.generation(), c->sock, true);
        }
        return true;
    }

    // ---- relaying WebSocket messages (ws/relay_table.hpp) ----

    bool accept_relayed(ConnectionHandle h, std::string_view key, std::string_view protocol,
                        std::string_view extension_offers) {
        Connection* c = resolve(pool_, loop_id_, h);
        if (c == nullptr || c->state != ConnState::stream || c->sock.closing || c->out_in_message) {
            return false;
        }
        proto::ExtensionOffers offers;
        if (!proto::parse_extension_list(extension_offers, offers)) offers.count = 0;
        c->stream = false;
        c->app_opened = false;  // answer_upgrade opens it again (app_state kept)
        answer_upgrade(h.index(), *c, key, protocol, offers);
        // Frames that came while the upstream answered waited (parked).
        if (c->input_parked) {
            parked_.schedule(h.index(), h.generation());
        } else {
            backend_.set_reading(h.index(), h.generation(), c->sock, true);
        }
        after_output(h.index(), *c);
        return true;
    }

    SendResult relay_piece(ConnectionHandle h, proto::Opcode opcode, std::span<const uint8_t> piece,
                           bool last, size_t headroom) {
        uint32_t index = 0;
        Connection* c = sendable(h, index);
        if (c == nullptr) return SendResult::gone;
        Outbound out = outbound(*c);
        LendOffer offer;
        if (in_receive_buffer(piece)) {
            offer = lend_offer({const_cast<uint8_t*>(piece.data()), piece.size()}, headroom);
            if (offer.data != nullptr) out.set_lend_offer(&offer);
        }
        out.send_message_piece(opcode, piece, last);
        after_compressed_send(index, *c);
        after_output(index, *c);
        return note_over_cap(index, *c);
    }

    SendResult push_stream(ConnectionHandle h, std::span<const uint8_t> bytes) {
        Connection* c = resolve(pool_, loop_id_, h);
        if (c == nullptr || c->state != ConnState::stream || c->sock.closing) {
            return SendResult::gone;
        }
        if (!lend_stream_bytes(*c, bytes)) c->out.append(chunks_, bytes);
        c->last_rx_tick = now_;
        after_output(h.index(), *c);
        return note_over_cap(h.index(), *c);
    }

    bool pause_reading(ConnectionHandle h) {
        Connection* c = resolve(pool_, loop_id_, h);
        if (c == nullptr || c->state != ConnState::open || c->sock.closing) return false;
        c->relay_paused = true;
        backend_.set_reading(h.index(), h.generation(), c->sock, false);
        return true;
    }

    bool over_cap(ConnectionHandle h) {
        Connection* c = resolve(pool_, loop_id_, h);
        if (c == nullptr || !over_cap(h.index(), *c)) return false;
        c->drain_wanted = true;
        return true;
    }

    bool finish_stream(ConnectionHandle h) {
        Connection* c = resolve(pool_, loop_id_, h);
        if (c == nullptr || !c->stream || c->sock.closing) return false;
        const uint32_t index = h.index();
        c->app_opened = false;  // the app is done with it: no on_stream_end
        if (c->state == ConnState::connecting) {
            close_now(index, *c);
        } else if (c->state != ConnState::lingering) {
            if (c->input_parked) parked_.drop(index);
            c->input_parked = false;
            begin_linger(index, *c);
            after_output(index, *c);
        }
        return true;
    }

    bool peer_address(ConnectionHandle h, sockaddr_storage& addr, socklen_t& len) {
        Connection* c = resolve(pool_, loop_id_, h);
        if (c == nullptr || c->sock.fd < 0 || settings_.backend.direct_descriptors) return false;
        len = sizeof(addr);
        return getpeername(c->sock.fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    }

    // Holding a handshake slot (not counting those on probation).
    uint32_t handshakes_in_progress() const {
        return handshakes_.size() - handshakes_.size(HandshakeQueue::List::probation);
    }

    // ---- backend owner interface (see io/uring_backend.hpp) ----

    io::SocketState* socket(uint32_t index, uint32_t generation) {
        Connection* c = pool_.find(index, generation);
        return c == nullptr ? nullptr : &c->sock;
    }

    // listener: the index of the listening socket in init's list.
    void on_accept(int fd, uint32_t listener = 0) {
        if (stopping_) {
            backend_.close_unadopted(fd);
            return;
        }
        uint32_t index = pool_.allocate(decoder_config_);
        if (index == io::SlotPool<Connection>::kNone) {
            backend_.close_unadopted(fd);
            return;
        }
        Connection& c = pool_[index];
        metrics_.accepted.add();
        metrics_.connections[static_cast<size_t>(ConnPhase::handshaking)].add();
        c.listener = LoopMetrics::listener_slot(listener);
        metrics_.by_listener[c.listener].opened();
        c.sock.fd = fd;
        c.last_rx_tick = now_;
        uint64_t peer = 0;
        uint64_t edge_peer = 0;
        bool has_peer = peer_of(fd, &peer, &edge_peer);
        backend_.start_socket(index, pool_.generation(index), c.sock);
        io::log_limited(kAcceptedEvent, 0, rid(index), {{"fd", fd}, {"listener", listener}},
                        "accepted fd %d", fd);
        if (tls_.listener_is_tls(listener) && !tls_.attach(index)) {
            close_now(index, c);
            return;
        }
        if (edge_peer != 0 && !admit_peer(index, c, edge_peer)) {
            after_output(index, c);
            return;
        }
        if (has_peer && peers_.count(peer) >= settings_.max_handshakes_per_peer) {
            refuse(index, c, kPeerCapStatus, "too many handshakes from this address");
            after_output(index, c);
            return;
        }
        Limit full = take_admission_counts();
        if (full != Limit::none) {
            uint32_t victim = displaceable_handshake();
            if (victim != HandshakeQueue::kNone) {
                drop_handshake(victim, kBusyDropReason);
                full = take_admission_counts();
            }
        }
        if (full == Limit::handshakes &&
            handshakes_.size(HandshakeQueue::List::probation) < kMaxProbation) {
            // No slot, but a head that is complete within the probation
            // needs none (see handle_request).
            handshakes_.push(index, now_ms32(), turn_, 0, false, HandshakeQueue::List::probation);
            timers_.schedule(index, now_ + kProbationTicks);
            return;
        }
        if (full != Limit::none) {
            refuse(index, c, kOverloadStatus, "too many connections", false, kOverloadRetryAfterS);
            after_output(index, c);
            return;
        }
        c.counted = true;
        if (has_peer && !peers_.try_add(peer, settings_.max_handshakes_per_peer)) has_peer = false;
        handshakes_.push(index, now_ms32(), turn_, peer, has_peer);
        timers_.schedule(index, now_ + handshake_ticks());
    }

    // Called for every receive completion, so the output cap holds per
    // completion: input that arrives while the queue is over the cap, or
    // behind input parked earlier, is parked instead of processed.
    void on_data(uint32_t index, uint8_t* data, size_t len) {
        if (tls::TlsSession* t = tls_.find(index)) {
            on_tls_data(index, *t, data, len);
            return;
        }
        on_plain_data(index, data, len);
    }

    // Plaintext from a receive buffer, or decrypted (rx_lendable_ false:
    // not in a receive buffer the backend could hold for a send).
    void on_plain_data(uint32_t index, uint8_t* data, size_t len) {
        Connection& c = pool_[index];
        c.last_rx_tick = now_;
        c.ping_sent = false;  // any byte answers the idle ping
        if (c.input_parked) {
            parked_.park(index, {data, len});
            return;
        }
        if (inflate_budget_ == 0 && LoopCompression::receiving(c.compression)) {
            // Mid compressed message with this turn's inflate budget spent:
            // straight to the parked queue, not decoded only to be given back.
            park_input(index, c, {data, len});
            parked_.schedule(index, generation(index));
            return;
        }
        if (rx_lendable_) stream_rx_ = {data, len};  // lendable to send_stream during this call
        size_t used = consume_input(index, c, data, len);
        stream_rx_ = {};
        if (used < len) park_input(index, c, {data + used, len - used});
        after_output(index, c);
    }

    // The peer sent FIN. A response or close frame still queued is sent
    // first (a client may half-close right after its request); parked
    // requests and frames are processed first. A response still pending
    // (ConnState::responding) is dropped: the peer is taken as gone, as an
    // HTTP server cancels a handler whose client left (respond_http -> false).
    void on_eof(uint32_t index) {
        Connection& c = pool_[index];
        if (c.input_parked) {
            parked_.note_eof(index);
            return;
        }
        if (c.stream) end_app(index, c, 0);
        if (!has_output(index, c)) {
            close_now(index, c);
            return;
        }
        c.peer_eof = true;
        begin_linger(index, c);
    }

    void on_io_error(uint32_t index, int error) {
        if (error == -EIO && tls_.in_kernel(index)) {
            on_kernel_tls_record(index);
            return;
        }
        Connection& c = pool_[index];
        if (c.stream) end_app(index, c, error);
        close_now(index, c);
    }

    // An outbound stream's connect ended (io/outbound_connect.hpp).
    void on_connect_ready(uint32_t index) {
        Connection& c = pool_[index];
        if (c.state != ConnState::connecting || c.sock.closing) return;
        int error = io::connect_result(c.sock.fd);
        // Direct descriptors: the socket moves into the ring's file table.
        if (error == 0) error = backend_.start_connected(index, generation(index), c.sock);
        if (error != 0) {
            end_app(index, c, error);
            close_now(index, c);
            return;
        }
        enter(c, ConnState::stream);
        c.last_rx_tick = now_;
        timers_.schedule(index, now_ + settings_.idle_timeout_ticks);
        if constexpr (StreamApplication<App, Self>) app_.on_connected(*this, handle(index));
    }

    size_t gather(uint32_t index, iovec* iov, size_t max) {
        Connection& c = pool_[index];
        if (tls::TlsSession* t = tls_.find(index)) {
            return tls_.gather(*t, c.out, c.fin_after_drain, iov, max);
        }
        return c.out.gather(iov, max);
    }

    void on_sent(uint32_t index, size_t bytes) {
        Connection& c = pool_[index];
        if (tls::TlsSession* t = tls_.find(index)) {
            tls_.sent(*t, bytes);
            consider_kernel_tls(index, c, *t);
        } else {
            c.out.consume(chunks_, bytes);
        }
        if (has_output(index, c)) {
            backend_.request_send(index, pool_.generation(index), c.sock);
        } else if (c.fin_after_drain) {
            if (c.peer_eof) {
                kernel_close_notify(index, c);
                close_now(index, c);
                return;
            }
            send_fin(index, c);
        }
        if (c.stream) {
            // A stream's reading follows the queue of the stream it feeds,
            // which the app watches (on_stream_drained), not its own.
            if (c.drain_wanted && queued_bytes(index, c) <= settings_.max_queued_bytes / 2) {
                c.drain_wanted = false;
                if constexpr (StreamApplication<App, Self>) {
                    if (c.app_opened) app_.on_stream_drained(*this, handle(index));
                }
            }
            return;
        }
        if (c.drain_wanted && queued_bytes(index, c) <= settings_.max_queued_bytes / 2) {
            c.drain_wanted = false;  // a relayed message piece went over the cap
            if constexpr (StreamApplication<App, Self>) {
                if (c.app_opened) app_.on_stream_drained(*this, handle(index));
            }
        }
        if (!c.sock.want_read && !c.relay_paused &&
            queued_bytes(index, c) <= settings_.max_queued_bytes / 2) {
            if (c.input_parked) {
                parked_.schedule(index, generation(index));  // reading resumes once it is used
            } else {
                backend_.set_reading(index, generation(index), c.sock, true);
            }
        }
    }

    void on_released(uint32_t index) {
        Connection& c = pool_[index];
        // Its descriptor is closed by now.
        io::log_limited(kReleasedEvent, 0, rid(index), {{"code", c.close_code}},
                        "released (close code %u)", unsigned{c.close_code});
        if (edge_peer_of_slot_ && edge_peer_of_slot_[index] != 0) {
            shared_.peers->release(edge_peer_of_slot_[index]);
            edge_peer_of_slot_[index] = 0;
        }
        end_app(index, c);
        timers_.cancel(index);
        drop_buffers(index, c);
        end_handshake(index);
        uncount(c);
        metrics_.connections[static_cast<size_t>(phase_of(c.state))].sub();
        metrics_.by_listener[c.listener].open.sub();
        pool_.release(index);
    }

    // Woken (eventfd or MSG_RING): takes what was posted, in one batch.
    void on_wake() {
        inbox_.drain([this](const LoopMessage& m) {
            switch (m.kind) {
                case LoopMessageKind::shutdown:
                    if (!stopping_) begin_shutdown();
                    return;
                case LoopMessageKind::app:
                    if constexpr (InboxApplication<App, Self>) app_.on_inbox_message(*this, m);
                    return;
                case LoopMessageKind::settings:
                    adopt_settings(take_settings_update(m));
                    return;
                case LoopMessageKind::hand_over:
                    begin_handover(static_cast<HandoverChannel*>(m.pointer));
                    return;
                case LoopMessageKind::adopt:
                    adopt(static_cast<AdoptBatch*>(m.pointer));
                    return;
                case LoopMessageKind::adopt_state: {
                    std::unique_ptr<LoopStateBatch> batch(static_cast<LoopStateBatch*>(m.pointer));
                    if constexpr (HandoverLoopApplication<App, Self>)
                        app_.adopt_loop_state(*this, batch->bytes);
                    return;
                }
            }
        });
    }

    // A reload's snapshot, adopted between events. What was sized or agreed
    // at start-up stays as it is (the snapshot's builder keeps those and
    // reports a change as needing a restart; kept here too so a loop never
    // outgrows its tables): the backend, the slot pool (max_connections at
    // most the start-up value), the per-address table, the deflate agreement
    // and its stream budget. The rest applies from now on: limits at the next
    // admission, frame header, queue check or timer; a running timer keeps its
    // deadline and is rescheduled with the new value when it fires; changed
    // message/byte rates refill every open connection's buckets at the new
    // rates (MessageRateLimit::update).
    void adopt_settings(const SettingsUpdate& update) {
        if (update.loop) {
            LoopSettings next = *update.loop;
            next.backend = settings_.backend;
            next.max_outbound = settings_.max_outbound;
            next.deflate = settings_.deflate;
            next.deflate_max_streams = settings_.deflate_max_streams;
            next.io_stats = settings_.io_stats;
            next.release_memory = settings_.release_memory;
            next.max_connections = std::min(next.max_connections, started_max_connections_);
            next.max_handshakes = std::min(next.max_handshakes, started_max_handshakes_);
            settings_ = next;
            decoder_config_.max_message_bytes = settings_.max_message_bytes;
            compression_.set_max_message_bytes(settings_.max_message_bytes);
            release_timer_.set_delay(settings_.memory_release_delay_ticks);
            pool_.for_each([this](uint32_t, Connection& c) {
                c.decoder.set_max_message_bytes(settings_.max_message_bytes);
            });
            const bool rates = rates_.update(settings_.edge, now_ms32(), [this](auto open) {
                pool_.for_each([&](uint32_t index, Connection& c) {
                    if (c.state == ConnState::open) open(index);
                });
            });
            if (!rates) {
                io::log(io::LogLevel::error, "message_rate", io::kNoConn, {},
                        "reloaded message/byte rates not applied: no memory for their table");
            }
            metrics_.settings_generation.set(static_cast<int64_t>(settings_.generation));
        }
        if constexpr (ReloadableApplication<App, Self>) app_.on_settings(*this, update.app);
    }

    // The loop may have slept for long (no timer due): deadlines set while
    // handling this turn's events count from now, not from before the wait.
    void before_events() {
        ++turn_;
        now_ms_ = ms_since_start(metrics_.turn_begun());
        now_ = static_cast<uint32_t>(now_ms_ / kTickMs);
        inflate_budget_ = settings_.inflate_work_per_turn;
    }

    void after_events() {
        running_parked_ = true;
        parked_.run_scheduled([this](uint32_t index, uint32_t gen) {
            Connection* c = pool_.find(index, gen);
            if (c == nullptr || !c->input_parked || c->sock.closing) return;
            if (inflate_budget_ == 0 && LoopCompression::receiving(c->compression)) {
                parked_.schedule(index, gen);  // mid-message, nothing to spend: next turn
                return;
            }
            process_parked(index, *c);
        });
        running_parked_ = false;
        // Those that spent the budget go behind the ones still waiting, so
        // parked compressed messages take turns (round robin by budget).
        for (const YieldedRef& y : yielded_)
            parked_.schedule(y.index, y.generation);
        yielded_.clear();
        if (draining_ && static_cast<int32_t>(now_ - drain_until_) >= 0) {
            draining_ = false;
            close_all(true);
        }
        if (under_pressure()) drop_overdue_handshakes();
        if (handover_ != nullptr) handover_turn();
        timers_.advance(now_, [this](uint32_t index) { on_timer(index); });
        run_kernel_tls_switches();
        tls_.after_turn(stderr, now_ms_);
        refusal_log_.flush_due(stderr, now_ms_);
        io::log_flush_due();
        if constexpr (TickingApplication<App, Self>) app_.on_turn_end(*this, now_ms_);
        publish_gauges();
    }

  private:
    // Calls from the frame decoder for one connection (one feed() at a time).
    struct FrameSink {
        Self& loop;
        uint32_t index;
        Connection& c;

        void on_frame_begin(const proto::DataFrame& f) {
            if (f.first && c.state == ConnState::open &&
                !loop.within_rate(index, c, loop.rates_.message(index, loop.now_ms32()))) {
                return;
            }
            // RFC 7692 §6.1: RSV1 on a message's first frame marks it compressed.
            if (f.first && f.rsv1 && c.state == ConnState::open) {
                InflateFailure refused =
                    loop.compression_.begin_incoming(c.compression, f.message_opcode);
                // Failing leaves the connection closing: its payload is ignored.
                if (refused.code != proto::CloseCode::none)
                    loop.after_compressed(index, c, refused);
            }
        }
        void on_frame_payload(std::span<uint8_t> chunk) {
            if (c.state != ConnState::open) return;
            if (!loop.within_rate(index, c,
                                  loop.rates_.bytes(index, chunk.size(), loop.now_ms32()))) {
                return;
            }
            loop.metrics_.in.count_bytes(message_kind(c.decoder.message_opcode()), chunk.size());
            if (LoopCompression::receiving(c.compression)) {
                loop.inflate_piece(index, c, chunk);
                return;
            }
            if (c.decoder.payload_remaining() == 0 && c.decoder.frame_fin()) {
                // Held until on_frame_end(true): the decoder may still find the
                // message invalid (text ending inside a code point), and an
                // invalid message must not be echoed as complete.
                loop.last_piece_ = chunk;
                loop.last_headroom_ = c.decoder.payload_headroom();
                return;
            }
            Outbound out = loop.outbound(c);
            LendOffer offer = loop.lend_offer(chunk, c.decoder.payload_headroom());
            if (offer.data != nullptr) out.set_lend_offer(&offer);
            loop.app_.on_message_piece(loop, loop.handle(index), out, c.decoder.message_opcode(),
                                       chunk, false);
        }
        void on_frame_end(bool message_end) {
            if (!message_end || c.state != ConnState::open) return;
            ++loop.backend_.counters().messages;
            loop.metrics_.in.count_message(message_kind(c.decoder.message_opcode()));
            if (LoopCompression::receiving(c.compression)) {
                loop.finish_inflate(index, c);
                return;
            }
            Outbound out = loop.outbound(c);
            LendOffer offer = loop.lend_offer(loop.last_piece_, loop.last_headroom_);
            if (offer.data != nullptr) out.set_lend_offer(&offer);
            loop.app_.on_message_piece(loop, loop.handle(index), out, c.decoder.message_opcode(),
                                       loop.last_piece_, true);
            loop.last_piece_ = {};
        }
        void on_ping(std::span<const uint8_t> payload) {
            // RFC 6455 §5.5.2: answer with the same payload, unless we are closing.
            loop.count_received_control(MessageKind::ping, payload.size());
            if (c.close_sent || !loop.control_within_rate(index, c, payload.size())) return;
            uint8_t frame[proto::kMaxServerFrameHeader + proto::kMaxControlPayload];
            size_t n = proto::write_control_frame(frame, proto::Opcode::pong, payload);
            c.out.append(loop.chunks_, frame, n);
            loop.count_sent(MessageKind::pong, payload.size());
        }
        void on_pong(std::span<const uint8_t> payload) {
            loop.count_received_control(MessageKind::pong, payload.size());
            if (!c.close_sent) loop.control_within_rate(index, c, payload.size());
        }
        void on_close(uint16_t code, std::string_view reason) {
            // RFC 6455 §5.5.1: the payload is the code (2 bytes) and the reason.
            loop.count_received_control(MessageKind::close,
                                        code == kNoStatusReceived ? 0 : 2 + reason.size());
            loop.metrics_.close_received.count(code);
            if constexpr (CloseFrameObserver<App, Self>) {
                if (c.app_opened) loop.app_.on_peer_close(loop, loop.handle(index), code, reason);
            }
            c.close_code = code;  // the peer's code wins (1005 when it sent none)
            if (!c.close_sent) {
                // RFC 6455 §5.5.1: echo the status code; no code received
                // (1005) -> empty close payload.
                uint16_t reply =
                    code == static_cast<uint16_t>(proto::CloseCode::no_status) ? 0 : code;
                loop.queue_close(c, reply, {});
            }
            loop.begin_linger(index, c);
        }
    };

    // ---- per-connection message and byte rates (ws/message_rate_limit.hpp) ----

    // false: the connection went over a rate and is being closed with 1008.
    bool within_rate(uint32_t index, Connection& c, MessageRateLimit::Verdict verdict) {
        if (verdict == MessageRateLimit::Verdict::ok) [[likely]]
            return true;
        const bool messages = verdict == MessageRateLimit::Verdict::messages;
        metrics_.limited(messages ? EdgeLimit::message_rate : EdgeLimit::byte_rate);
        LogThrottle& log = messages ? message_rate_log_ : byte_rate_log_;
        if (uint64_t n = log.note(now_ms_); n != 0) {
            if (n > 1) io::count_suppressed_lines(n - 1);
            io::log(io::LogLevel::info, messages ? "message_rate" : "byte_rate", rid(index),
                    {{"fd", c.sock.fd}, {"closed", n}},
                    "closed %llu connection%s with 1008 (latest fd %d): %s",
                    static_cast<unsigned long long>(n), n == 1 ? "" : "s", c.sock.fd,
                    messages ? "over --max-messages-per-second" : "over --max-bytes-per-second");
        }
        // RFC 6455 §7.4.1: 1008, a message that violates the server's policy.
        // Logged above, with a count of its own.
        fail(index, c, proto::CloseCode::policy_violation,
             messages ? "message rate limit exceeded" : "byte rate limit exceeded", false);
        return false;
    }
    // A ping or pong counts as a message and its payload as bytes.
    bool control_within_rate(uint32_t index, Connection& c, size_t payload) {
        if (c.state != ConnState::open || !rates_.enabled()) return true;
        return within_rate(index, c, rates_.message(index, now_ms32())) &&
               within_rate(index, c, rates_.bytes(index, payload, now_ms32()));
    }

    Outbound outbound(Connection& c) {
        Outbound out = c.compression.negotiated() ? Outbound(c.out, chunks_, c.out_in_message,
                                                             &compression_, &c.compression)
                                                  : Outbound(c.out, chunks_, c.out_in_message);
        out.set_counts(&metrics_.out);
        return out;
    }

    // ---- metrics (ws/loop_metrics.hpp) ----

    static ConnPhase phase_of(ConnState state) {
        switch (state) {
            case ConnState::http:
                return ConnPhase::handshaking;
            case ConnState::responding:
                return ConnPhase::http;
            case ConnState::open:
            case ConnState::stream:  // a relayed WebSocket (or its upstream side)
                return ConnPhase::websocket;
            case ConnState::connecting:
                return ConnPhase::handshaking;
            case ConnState::closing:
            case ConnState::lingering:
                break;
        }
        return ConnPhase::closing;
    }
    void enter(Connection& c, ConnState state) {
        metrics_.change_phase(phase_of(c.state), phase_of(state));
        c.state = state;
    }
    void count_sent(MessageKind kind, uint64_t bytes) {
        metrics_.out.count_message(kind);
        metrics_.out.count_bytes(kind, bytes);
    }
    void count_received_control(MessageKind kind, uint64_t bytes) {
        metrics_.in.count_message(kind);
        metrics_.in.count_bytes(kind, bytes);
    }
    // What only the loop may read, copied out once per turn.
    void publish_gauges() {
        metrics_.parked_input_bytes.set(static_cast<int64_t>(parked_.bytes()));
        metrics_.held_receive_buffers.set(backend_.held_buffers());
        metrics_.lent_receive_buffers.set(backend_.lent_buffers());
        metrics_.turn_ended();
    }

    // A chunk of a compressed incoming message (RFC 7692 §7.2.2): inflated
    // into the loop's scratch space and handed to the app in pieces.
    // Spends the turn's inflate budget; once it is out, the rest of the
    // chunk is handed back to the decoder (pause_payload) and the connection
    // yields: feed_frames parks what is left for a later turn.
    void inflate_piece(uint32_t index, Connection& c, std::span<uint8_t> chunk) {
        bool ends_next = c.decoder.payload_remaining() == 0 && c.decoder.frame_fin();
        size_t taken = chunk.size();
        InflateFailure f = compression_.inflate_chunk(
            c.compression, chunk, ends_next,
            [&](auto piece) {
                Outbound out = outbound(c);
                app_.on_message_piece(*this, handle(index), out, c.decoder.message_opcode(), piece,
                                      false);
            },
            &inflate_budget_, &taken);
        after_compressed(index, c, f);
        if (taken < chunk.size() && c.state == ConnState::open) {
            c.decoder.pause_payload(chunk.subspan(taken));
            yield_spent_ = taken > 0;
        }
    }

    void finish_inflate(uint32_t index, Connection& c) {
        InflateFailure f = compression_.finish_incoming(c.compression, [&](auto piece, bool last) {
            Outbound out = outbound(c);
            app_.on_message_piece(*this, handle(index), out, c.decoder.message_opcode(), piece,
                                  last);
        });
        after_compressed(index, c, f);
    }

    // Fails the connection when inflating (1007/1009/1011) or compressing
    // the echo (1011) went wrong; the closing handshake proceeds as usual.
    void after_compressed(uint32_t index, Connection& c, const InflateFailure& f) {
        if (c.state != ConnState::open) return;
        if (f.code != proto::CloseCode::none) {
            if (f.code == proto::CloseCode::try_again_later) {
                log_stream_refusals(stream_log_.note(elapsed_ms()));
                fail(index, c, f.code, f.reason, false);
            } else {
                fail(index, c, f.code, f.reason);
            }
        } else if (LoopCompression::send_failed(c.compression)) {
            fail(index, c, proto::CloseCode::internal_error, "compression failed");
        }
    }

    // Refusals for a spent stream budget (1013) come in floods when they
    // come: one line per second with their count (the other failures of a
    // compressed message are closes like any other: fail() logs them).
    void log_stream_refusals(uint64_t count) {
        if (count == 0) return;
        const int64_t covered_ms = stream_log_.covered_ms();
        if (count > 1) io::count_suppressed_lines(count - 1);
        char when[64] = "; further refusals are logged at most once per second";
        if (covered_ms != 0) {
            std::snprintf(when, sizeof(when), " in the last %.1f s",
                          static_cast<double>(covered_ms) / 1000.0);
        }
        io::log(io::LogLevel::info, "deflate_streams", io::kNoConn, {{"refused", count}},
                "refused %llu compressed message%s with 1013: all %llu zlib streams of the loop "
                "in use (--deflate-max-streams)%s",
                static_cast<unsigned long long>(count), count == 1 ? "" : "s",
                static_cast<unsigned long long>(compression_.max_streams()), when);
    }

    // Zero-copy echo (issue 3): a piece of at least zero_copy_min_bytes may
    // be sent straight from its receive buffer, which the backend then keeps
    // out of its ring until the send is done. Smaller pieces are copied: the
    // copy is cheaper than holding a whole receive buffer for them.
    LendOffer lend_offer(std::span<uint8_t> piece, size_t headroom) {
        if (piece.size() < settings_.zero_copy_min_bytes || !rx_lendable_) return {};
        return LendOffer{piece.data(), headroom, &lend_buffer, this};
    }
    static uint32_t lend_buffer(void* self) {
        uint32_t id = static_cast<Self*>(self)->backend_.hold_buffer();
        return id == Backend<Self>::kNoBuffer ? kNoLend : id;
    }
    static void release_lent(void* self, uint32_t id) {
        static_cast<Self*>(self)->backend_.release_buffer(id);
    }

    size_t stream_input(uint32_t index, uint8_t* data, size_t len) {
        if constexpr (StreamApplication<App, Self>) {
            return app_.on_stream_data(*this, handle(index), std::span<uint8_t>(data, len));
        }
        return len;
    }

    bool in_receive_buffer(std::span<const uint8_t> bytes) const {
        const uint8_t* rx = stream_rx_.data();
        return rx != nullptr && bytes.data() >= rx &&
               bytes.data() + bytes.size() <= rx + stream_rx_.size();
    }

    // After a relayed send that queues even over the cap: over_cap when the
    // queue is over it now (the app hears on_stream_drained once it is under
    // half), else queued.
    SendResult note_over_cap(uint32_t index, Connection& c) {
        if (!over_cap(index, c)) return SendResult::queued;
        c.drain_wanted = true;
        return SendResult::over_cap;
    }

    // Relayed bytes that lie in the receive buffer being delivered are
    // queued by reference to it (the backend keeps it out of its ring until
    // sent), up to kMaxLentChunks per queue, from zero_copy_min_bytes on (as
    // echoed pieces: below, the copy costs less than holding a buffer).
    // False: to be copied.
    bool lend_stream_bytes(Connection& c, std::span<const uint8_t> bytes) {
        const uint8_t* rx = stream_rx_.data();
        if (bytes.size() < settings_.zero_copy_min_bytes || rx == nullptr || bytes.data() < rx ||
            bytes.data() + bytes.size() > rx + stream_rx_.size() ||
            c.out.lent_chunks() >= kMaxLentChunks) {
            return false;
        }
        uint32_t id = backend_.hold_buffer();
        if (id == Backend<Self>::kNoBuffer) return false;
        // The receive buffer is ours (on_data's bytes are mutable): only the
        // view handed to the app was const.
        c.out.append_lent(chunks_, const_cast<uint8_t*>(bytes.data()), bytes.size(), id);
        return true;
    }

    uint32_t generation(uint32_t index) const { return pool_.generation(index); }
    io::RequestId rid(uint32_t index) const { return {loop_id_, index, generation(index)}; }
    ConnectionHandle handle(uint32_t index) const {
        return ConnectionHandle(loop_id_, index, generation(index));
    }

    // The open WebSocket connection `h` names (not closing), or nullptr.
    Connection* sendable(ConnectionHandle h, uint32_t& index) {
        Connection* c = resolve(pool_, loop_id_, h);
        if (c == nullptr || !c->app_opened || c->state != ConnState::open || c->sock.closing) {
            return nullptr;
        }
        index = h.index();
        return c;
    }

    // A message queued on a compressing connection may have failed to deflate.
    void after_compressed_send(uint32_t index, Connection& c) {
        if (c.state == ConnState::open && LoopCompression::send_failed(c.compression)) {
            fail(index, c, proto::CloseCode::internal_error, "compression failed");
        }
    }

    int64_t elapsed_ms() const {
        timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return ms_since_start(t);
    }
    int64_t ms_since_start(const timespec& t) const {
        return (t.tv_sec - start_.tv_sec) * 1000 + (t.tv_nsec - start_.tv_nsec) / 1000000;
    }
    uint32_t now_ms32() const { return static_cast<uint32_t>(now_ms_); }

    // How long the loop may sleep: until the nearest timer slot in use, or
    // for ever (-1) when no timer is pending, so an idle server does not
    // wake every tick (the wake eventfd and the backend's own retries cut a
    // sleep short).
    int ms_to_next_timer() const {
        if (parked_.any_scheduled()) return 0;
        uint32_t tick = std::min(timers_.next_busy_tick(), release_timer_.due_tick());
        static_assert(io::TimerWheel::kNoTimer == MemoryReleaseTimer::kNotDue);
        int64_t due_ms = std::min(refusal_log_.next_due_ms(), tls_.next_due_ms());
        if (int64_t summary = io::log_ms_to_next_summary(); summary >= 0) {
            due_ms = std::min(due_ms, elapsed_ms() + summary);
        }
        if (tick != io::TimerWheel::kNoTimer) due_ms = std::min(due_ms, int64_t{tick} * kTickMs);
        static_assert(tls::FailureLog::kNothingDue == RefusalLog::kNothingDue);
        if (draining_) due_ms = std::min(due_ms, int64_t{drain_until_} * kTickMs);
        if (due_ms == RefusalLog::kNothingDue) return -1;
        int64_t due = due_ms - elapsed_ms();
        if (due <= 0) return 0;
        return static_cast<int>(std::min<int64_t>(due, kMaxSleepMs));
    }
    static constexpr int64_t kMaxSleepMs = 3600 * 1000;

    // The loop's timers and, for a TickingApplication, the app's.
    int ms_to_sleep() const {
        int ms = ms_to_next_timer();
        // Handing over: connections become movable as their sends complete
        // and their input stops; look again soon.
        if (handover_ != nullptr && (ms < 0 || ms > kHandoverPollMs)) ms = kHandoverPollMs;
        if constexpr (TickingApplication<App, Self>) {
            int app_ms = app_.ms_until_due(elapsed_ms());
            if (app_ms >= 0 && (ms < 0 || app_ms < ms)) ms = app_ms;
        }
        return ms;
    }

    // The loop went quiet after a peak: its cached output chunks and the
    // pages the allocator keeps for this thread go back to the OS.
    void release_memory() {
        auto free_caches = [](void* self) { static_cast<Self*>(self)->chunks_.trim(); };
        if (settings_.release_memory != nullptr) {
            settings_.release_memory(free_caches, this);
        } else {
            free_caches(this);
        }
    }

    void drop_buffers(uint32_t index, Connection& c) {
        if (c.input_parked) parked_.drop(index);
        c.input_parked = false;
        compression_.release(c.compression);
        c.out.clear(chunks_);
        tls_.release(index);
        delete c.handshake;
        c.handshake = nullptr;
    }

    // Requests a send when output is queued and applies backpressure.
    void after_output(uint32_t index, Connection& c) {
        peak_queued_ = std::max(peak_queued_, queued_bytes(index, c));
        if (c.sock.closing) return;
        if (has_output(index, c)) backend_.request_send(index, generation(index), c.sock);
        if (over_cap(index, c) && c.sock.want_read && !c.stream) {
            metrics_.backpressure_pauses.add();
            backend_.set_reading(index, generation(index), c.sock, false);
        }
    }

    // Queued output, plaintext or (TLS) records not yet sent.
    bool has_output(uint32_t index, const Connection& c) const {
        return !c.out.empty() || tls_.has_output(index);
    }

    // Ciphertext from a receive buffer: the handshake, then records whose
    // plaintext takes the plain path (on_plain_data).
    void on_tls_data(uint32_t index, tls::TlsSession& t, uint8_t* data, size_t len) {
        Connection& c = pool_[index];
        if (t.failed) return;  // its alert is on its way; the rest is dropped
        c.last_rx_tick = now_;
        rx_lendable_ = false;
        tls::ReceiveResult r = tls_.receive(t, data, len, [&](uint8_t* plain, size_t n) {
            on_plain_data(index, plain, n);
            return !c.sock.closing;
        });
        rx_lendable_ = true;
        if (r.established_now) {
            metrics_.tls_handshakes.add();
            if (r.resumed) metrics_.tls_resumed.add();
        }
        if (c.sock.closing) return;
        switch (r.what) {
            case tls::Received::more:
                after_output(index, c);
                if (!c.sock.closing) consider_kernel_tls(index, c, t);
                return;
            case tls::Received::closed:
                // close_notify: answered with ours (RFC 8446 §6.1), then as a FIN.
                if (c.out.empty()) tls_.close_notify(t);
                on_eof(index);
                return;
            case tls::Received::failed:
                fail_tls(index, c, t, r.reason);
                return;
        }
    }

    // Kernel TLS. An established session at a record boundary with nothing
    // held in OpenSSL (TlsLoop::kernel_ready) stops receiving; once no
    // receive is in flight (the bytes it took would be ciphertext the kernel
    // never sees), its keys go to the kernel and the SSL is freed: from then
    // on the connection is plain to the loop. A session that took more bytes
    // meanwhile and is not at a boundary any more tries again later.
    static constexpr uint8_t kKernelTlsAttempts = 4;

    void consider_kernel_tls(uint32_t index, Connection& c, tls::TlsSession& t) {
        if (t.kernel_pending || c.fin_after_drain || c.sock.closing || !tls_.kernel_ready(t)) {
            return;
        }
        t.kernel_pending = true;
        if (c.sock.want_read) {
            t.kernel_paused_reading = true;
            backend_.set_reading(index, generation(index), c.sock, false);
        }
        kernel_pending_.push_back({index, generation(index)});
    }

    void run_kernel_tls_switches() {
        size_t kept = 0;
        for (YieldedRef r : kernel_pending_) {
            Connection* c = pool_.find(r.index, r.generation);
            tls::TlsSession* t = c != nullptr ? tls_.find(r.index) : nullptr;
            if (t == nullptr || !t->kernel_pending) continue;
            if (!c->sock.closing && Backend<Self>::receive_in_flight(c->sock)) {
                kernel_pending_[kept++] = r;
                continue;
            }
            t->kernel_pending = false;
            if (!c->sock.closing) switch_to_kernel_tls(r.index, *c, *t);
        }
        kernel_pending_.resize(kept);
    }

    void switch_to_kernel_tls(uint32_t index, Connection& c, tls::TlsSession& t) {
        bool resume = t.kernel_paused_reading;
        t.kernel_paused_reading = false;
        if (c.fin_after_drain || !tls_.kernel_ready(t)) {
            if (++t.kernel_attempts >= kKernelTlsAttempts) stay_in_user_space(t, nullptr);
        } else {
            tls::KernelKeys keys;
            const char* why = tls_.kernel_keys(t, &keys);
            tls::InstallResult r;
            if (why == nullptr) r = tls::install_kernel_tls(c.sock.fd, keys);
            OPENSSL_cleanse(&keys, sizeof(keys));
            if (why == nullptr && r.what == tls::KernelInstall::done) {
                tls_.handed_to_kernel(index);
                metrics_.tls_kernel.add();
            } else if (r.what == tls::KernelInstall::broken) {
                metrics_.tls_failures.add();
                tls_.log_failure(stderr, elapsed_ms(), c.sock.fd,
                                 "kernel TLS took the receive keys but not the send keys",
                                 rid(index));
                end_app(index, c);
                close_now(index, c);
                return;
            } else {
                std::string text = why != nullptr ? why : "setsockopt ";
                if (why == nullptr) text += std::string(r.step) + ": " + std::strerror(r.error);
                stay_in_user_space(t, text.c_str());
            }
        }
        if (resume && !c.sock.closing && !c.input_parked && !over_cap(index, c)) {
            backend_.set_reading(index, generation(index), c.sock, true);
        }
    }

    // The session keeps OpenSSL; the loop's first such case says why.
    void stay_in_user_space(tls::TlsSession& t, const char* why) {
        tls_.stay_in_user_space(t);
        metrics_.tls_kernel_refused.add();
        if (why != nullptr && !kernel_refusal_logged_) {
            kernel_refusal_logged_ = true;
            io::log(io::LogLevel::warn, "tls_kernel_refused", io::kNoConn, {},
                    "kernel TLS refused (%s): such connections stay in user-space TLS", why);
        }
    }

    // Under kernel receive a record that is not application data ended the
    // receive with EIO: it is read with its type, then reading goes on.
    void on_kernel_tls_record(uint32_t index) {
        Connection& c = pool_[index];
        std::span<uint8_t> buf = tls_.record_buffer();
        uint8_t type = 0;
        ssize_t n = tls::read_control_record(c.sock.fd, buf.data(), buf.size(), &type);
        if (n == 0) {
            on_eof(index);
            return;
        }
        const char* fatal = nullptr;
        if (n < 0 && n != -EAGAIN) {
            fatal = "kernel TLS: bad record";
        } else if (n > 0) {
            switch (tls::classify_control_record(type, buf.data(), static_cast<size_t>(n))) {
                case tls::ControlRecord::data:
                    rx_lendable_ = false;
                    on_plain_data(index, buf.data(), static_cast<size_t>(n));
                    rx_lendable_ = true;
                    break;
                case tls::ControlRecord::end:  // close_notify: answered, then as a FIN
                    if (!has_output(index, c) && !c.sock.send_busy) kernel_close_notify(index, c);
                    on_eof(index);
                    return;
                case tls::ControlRecord::ignore:
                    break;
                case tls::ControlRecord::key_update:
                    // RFC 8446 §4.6.3: the peer's next records use new keys,
                    // which the kernel here cannot be given.
                    metrics_.tls_failures.add();
                    tls_.log_failure(stderr, elapsed_ms(), c.sock.fd,
                                     "client KeyUpdate, which kernel TLS cannot follow: 1011",
                                     rid(index));
                    if (c.state == ConnState::open) {
                        fail(index, c, proto::CloseCode::internal_error, "TLS key update");
                    } else {
                        end_app(index, c);
                        close_now(index, c);
                    }
                    return;
                case tls::ControlRecord::renegotiation:  // as in user space (TlsLoop::on_info)
                    fatal = "renegotiation refused";
                    break;
                case tls::ControlRecord::fatal:
                    fatal = "kernel TLS: alert or handshake message from the peer";
                    break;
            }
        }
        if (fatal != nullptr) {
            metrics_.tls_failures.add();
            tls_.log_failure(stderr, elapsed_ms(), c.sock.fd, fatal, rid(index));
            end_app(index, c);
            close_now(index, c);
            return;
        }
        if (!c.sock.closing) backend_.resume_reading(index, generation(index), c.sock);
    }

    // A TLS failure (bad handshake, bad record, renegotiation, timeout):
    // one log line (throttled: a peer can cause these at any rate), the
    // alert OpenSSL queued goes out, then FIN; plaintext output is dropped.
    void fail_tls(uint32_t index, Connection& c, tls::TlsSession& t, const char* reason) {
        metrics_.tls_failures.add();
        tls_.log_failure(stderr, elapsed_ms(), c.sock.fd, reason, rid(index));
        t.failed = true;
        c.out.clear(chunks_);
        if (c.input_parked) parked_.drop(index);
        c.input_parked = false;
        if (t.cipher.empty()) {
            end_app(index, c);
            close_now(index, c);
            return;
        }
        begin_linger(index, c);
    }

    // What the connection has queued to send: its plaintext queue and, for
    // TLS, the records encrypted from it that the kernel has not taken yet.
    // The output cap counts both, so a TLS peer that does not read holds no
    // more than a plain one.
    size_t queued_bytes(uint32_t index, const Connection& c) const {
        return c.out.size() + tls_.queued_records(index);
    }
    bool over_cap(uint32_t index, const Connection& c) const {
        return queued_bytes(index, c) > settings_.max_queued_bytes;
    }

    // Processes data[0, len) while the output queue is within the cap: each
    // request head, or the whole buffer of frames (its echo adds at most the
    // buffer's bytes and one frame header), is processed only if the queue
    // is not over the cap before it. Returns how many bytes were used; the
    // rest is to be parked. Bytes after a close or failure are used (dropped).
    size_t consume_input(uint32_t index, Connection& c, uint8_t* data, size_t len) {
        size_t used = 0;
        while (used < len && !c.sock.closing) {
            switch (c.state) {
                case ConnState::http:
                    if (over_cap(index, c)) return used;
                    used += handshake_step(index, c, data + used, len - used);
                    break;
                case ConnState::open:
                case ConnState::closing:
                    if (over_cap(index, c)) return used;
                    return used + feed_frames(index, c, data + used, len - used);
                case ConnState::responding:
                    return used;  // the next request waits for the pending answer
                case ConnState::lingering:
                case ConnState::connecting:  // not read before it is connected
                    return len;              // discarded: the peer's data no longer matters
                case ConnState::stream:
                    return used + stream_input(index, data + used, len - used);
            }
        }
        return len;
    }

    // Keeps input for later (see ws/parked_input.hpp) and stops reading
    // until it has been processed.
    void park_input(uint32_t index, Connection& c, std::span<const uint8_t> bytes) {
        c.input_parked = true;
        parked_.park(index, bytes);
        backend_.set_reading(index, generation(index), c.sock, false);
    }

    // Processes parked input in order while the queue is within the cap;
    // once all of it is used, acts on a parked FIN or resumes reading.
    void process_parked(uint32_t index, Connection& c) {
        while (!c.sock.closing) {
            std::span<uint8_t> bytes = parked_.front(index);
            if (bytes.empty()) break;
            size_t used = consume_input(index, c, bytes.data(), bytes.size());
            parked_.consume(index, used);
            if (used < bytes.size()) break;  // over the cap again: on_sent reschedules
        }
        bool eof = false;
        if (c.sock.closing) {
            parked_.drop(index);
            c.input_parked = false;
            return;
        }
        if (parked_.drained(index, eof)) {
            c.input_parked = false;
            if (eof) {
                on_eof(index);
                return;
            }
            if (c.stream ||
                (!c.relay_paused && queued_bytes(index, c) <= settings_.max_queued_bytes / 2)) {
                backend_.set_reading(index, generation(index), c.sock, true);
            }
        }
        after_output(index, c);
    }

    // Parses request-head bytes in place when a head fits in one receive
    // buffer, else collects them in the connection's HandshakeBuffer; then
    // a plain request's Content-Length body, in place when it arrived with
    // its head, else collected (see take_request). Returns how many of
    // data[0, len) were used.
    size_t handshake_step(uint32_t index, Connection& c, uint8_t* data, size_t len) {
        if (c.handshake != nullptr && c.handshake->head_len != 0) {
            return body_step(index, c, data, len);
        }
        proto::HttpRequest request;
        if (c.handshake == nullptr) {
            auto r = proto::parse_http_request(reinterpret_cast<const char*>(data), len, 0, request,
                                               settings_.edge.head);
            if (r.status == proto::ParseStatus::complete) {
                return r.consumed + take_request(index, c, request,
                                                 {reinterpret_cast<const char*>(data), r.consumed},
                                                 {data + r.consumed, len - r.consumed});
            }
            if (r.status == proto::ParseStatus::error) {
                refuse(index, c, r.http_status, r.reason);
                return len;
            }
            if (len > kHandshakeBufferBytes) {
                refuse(index, c, 431, "request head too large");
                return len;
            }
            c.handshake = new HandshakeBuffer;
            std::memcpy(c.handshake->data, data, len);
            c.handshake->len = len;
            handshakes_.mark_partial(index);  // first to go under load
            return len;
        }
        HandshakeBuffer& hb = *c.handshake;
        size_t old_len = hb.len;
        size_t n = std::min(len, kHandshakeBufferBytes - old_len);
        std::memcpy(hb.data + old_len, data, n);
        hb.len += n;
        auto r = proto::parse_http_request(hb.data, hb.len, old_len, request, settings_.edge.head);
        if (r.status == proto::ParseStatus::complete) {
            size_t used = r.consumed - old_len;  // the rest of data follows the head
            used +=
                take_request(index, c, request, {hb.data, r.consumed}, {data + used, len - used});
            if (c.handshake != nullptr && c.handshake->head_len == 0) {
                delete c.handshake;  // no body pending: the head's views are no longer used
                c.handshake = nullptr;
            }
            return used;
        }
        if (r.status == proto::ParseStatus::error) {
            refuse(index, c, r.http_status, r.reason);
            return len;
        }
        if (hb.len == kHandshakeBufferBytes) {
            refuse(index, c, 431, "request head too large");
            return len;
        }
        return n;
    }

    // A complete head: decides how its body is framed (RFC 9112 §6.3, see
    // proto/http_body_framing.hpp) and hands the request on once its body is
    // here. `after` is what followed the head in the same buffer. A body
    // that arrived whole is handed over in place; otherwise head and body
    // are collected in the HandshakeBuffer (body_step). Returns how many
    // bytes of `after` were used.
    size_t take_request(uint32_t index, Connection& c, const proto::HttpRequest& request,
                        std::string_view head, std::span<const uint8_t> after) {
        if (proto::is_upgrade_request(request)) {
            handle_request(index, c, request, head, {});
            return 0;
        }
        proto::BodyFraming framing =
            proto::decide_body_framing(request, settings_.max_request_bytes);
        switch (framing.kind) {
            case proto::BodyFramingKind::none:
                handle_request(index, c, request, head, {});
                return 0;
            case proto::BodyFramingKind::refused:
                trace(index, c, "request", head);
                refuse(index, c, framing.http_status, framing.reason);
                return after.size();
            case proto::BodyFramingKind::content_length:
                break;
        }
        if (framing.length <= after.size()) {
            handle_request(index, c, request, head, after.first(framing.length));
            return framing.length;
        }
        if (c.handshake == nullptr) {
            c.handshake = new HandshakeBuffer;
            std::memcpy(c.handshake->data, head.data(), head.size());
        }
        HandshakeBuffer& hb =
            *c.handshake;  // the head is already at hb.data when it came from there
        hb.head_len = head.size();
        hb.len = head.size();
        hb.body_len = framing.length;
        hb.body.reset(new char[framing.length]);
        if (!after.empty()) std::memcpy(hb.body.get(), after.data(), after.size());
        hb.body_have = after.size();
        handshakes_.mark_partial(index);  // a request still coming: first to go under load
        return after.size();
    }

    // The next bytes of a body being collected; hands the request on when
    // it is complete. Returns how many of data[0, len) were used.
    size_t body_step(uint32_t index, Connection& c, const uint8_t* data, size_t len) {
        HandshakeBuffer& hb = *c.handshake;
        size_t n = std::min(len, hb.body_len - hb.body_have);
        std::memcpy(hb.body.get() + hb.body_have, data, n);
        hb.body_have += n;
        if (hb.body_have < hb.body_len) return n;
        // The head was parsed when it arrived; parsing it again (a few
        // hundred ns) gives fresh views without storing them all.
        proto::HttpRequest request;
        auto r = proto::parse_http_request(hb.data, hb.head_len, 0, request, settings_.edge.head);
        if (r.status == proto::ParseStatus::complete) {
            handle_request(index, c, request, {hb.data, hb.head_len},
                           {reinterpret_cast<const uint8_t*>(hb.body.get()), hb.body_len});
        } else {
            refuse(index, c, 400, "request head");  // not reached: the same bytes parsed before
        }
        delete c.handshake;
        c.handshake = nullptr;
        return n;
    }

    // Every trace line is written (--trace asks for all of them), at info.
    void trace(uint32_t index, const Connection& c, const char* what, std::string_view bytes) {
        if (!settings_.trace) return;
        io::log(io::LogLevel::info, "trace", rid(index), {{"fd", c.sock.fd}}, "trace fd %d %s %s",
                c.sock.fd, what, trace_escape(bytes).c_str());
    }

    static bool has_header(const proto::HttpRequest& request, std::string_view name) {
        for (size_t i = 0; i < request.header_count; ++i) {
            const std::string_view n = request.headers[i].name;
            if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) {
                return true;
            }
        }
        return false;
    }

    static bool wants_close(const proto::HttpRequest& request) {
        // RFC 9112 §9.3: HTTP/1.1 is persistent unless "Connection: close".
        // (A body does not end it: take_request has read exactly its bytes.)
        if (request.minor_version < 1) return true;
        std::string_view v = request.header("Connection");
        for (size_t i = 0; i + 5 <= v.size(); ++i) {
            if (strncasecmp(v.data() + i, "close", 5) == 0) return true;
        }
        return false;
    }

    void handle_request(uint32_t index, Connection& c, const proto::HttpRequest& request,
                        std::string_view head, std::span<const uint8_t> body) {
        trace(index, c, "request", head);
        if (handshakes_.in(index, HandshakeQueue::List::probation) &&
            !admit_from_probation(index, c)) {
            return;
        }
        if (!proto::is_upgrade_request(request)) {
            // RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400.
            if (request.minor_version >= 1 && !has_header(request, "Host")) {
                refuse(index, c, 400, "missing Host header", request.method == "HEAD");
                return;
            }
            bool keep_alive = !wants_close(request);
            size_t before = c.out.size();
            Outbound out = outbound(c);
            HttpAnswer answer =
                app_.on_http_request(*this, handle(index), request, body, keep_alive, out);
            if (answer == HttpAnswer::later) {
                // Being answered is not a handshake: neither displaced nor
                // timed out as one; bounded by the response timeout instead.
                end_handshake(index);
                enter(c, ConnState::responding);
                timers_.schedule(index, now_ + settings_.http_response_timeout_ticks);
                return;
            }
            if (settings_.trace) trace_queued(index, c, before);
            after_response(index, c, keep_alive);
            return;
        }
        if (!origin_allowed(c, request)) {
            metrics_.limited(EdgeLimit::origin);
            refuse(index, c, kForbiddenStatus, "origin not allowed", request.method == "HEAD");
            return;
        }
        if constexpr (UpgradeFilter<App>) {
            if (!app_.accept_upgrade(request)) {
                refuse(index, c, 404, "no WebSocket endpoint at this path",
                       request.method == "HEAD");
                return;
            }
        }
        proto::UpgradeRequest upgrade;
        proto::HandshakeError err = proto::validate_upgrade(request, upgrade);
        if (err.status != 0) {
            refuse(index, c, err.status, err.reason, request.method == "HEAD");
            return;
        }
        if constexpr (RelayApplication<App, Self>) {
            // Relayed as it came: the app forwards the head, extensions are
            // negotiated end to end.
            enter(c, ConnState::stream);
            c.stream = true;
            end_handshake(index);
            c.last_rx_tick = now_;
            timers_.schedule(index, now_ + settings_.idle_timeout_ticks);
            c.app_opened = true;
            app_.relay_upgrade(*this, handle(index), request, head);
            return;
        }
        answer_upgrade(index, c, upgrade.key, {}, upgrade.extensions);
    }

    // 101 for a valid upgrade: the connection is an open WebSocket.
    void answer_upgrade(uint32_t index, Connection& c, std::string_view key,
                        std::string_view protocol, const proto::ExtensionOffers& offers) {
        // RFC 7692 §5: accept the first acceptable permessage-deflate offer
        // (an unusable offer is declined by not answering it, never refused).
        std::string_view extensions = compression_.negotiate(offers, c.compression);
        if (c.compression.negotiated()) {
            proto::FrameDecoderConfig config = decoder_config_;
            config.rsv1_allowed = true;
            c.decoder.set_config(config);
        }
        char response[kResponseCap];
        size_t n =
            proto::write_upgrade_response(response, sizeof(response), key, protocol, extensions);
        c.out.append(chunks_, response, n);
        trace(index, c, "response", {response, n});
        enter(c, ConnState::open);
        rates_.open(index, now_ms32());
        metrics_.upgrades.add();
        io::log_limited(kUpgradedEvent, 0, rid(index), {{"fd", c.sock.fd}},
                        "upgraded fd %d to a WebSocket", c.sock.fd);
        end_handshake(index);
        c.last_rx_tick = now_;
        timers_.schedule(index, now_ + idle_half());
        c.app_opened = true;
        app_.on_open(*this, handle(index));
    }

    // RFC 6455 §10.2: the allow-list of the path, the listener or the
    // server decides which pages' scripts may connect; more than one Origin
    // line is not one origin.
    bool origin_allowed(const Connection& c, const proto::HttpRequest& request) const {
        const OriginPolicy& policy = settings_.edge.origins;
        if (policy.empty()) return true;
        if (request.count(proto::KnownHeader::origin) > 1) return false;
        return policy.allows(c.listener, request.target,
                             request.first_value(proto::KnownHeader::origin));
    }

    // A response is queued: the connection waits for its next request
    // (keep-alive; a new handshake, at the back of the queue), else FIN
    // after the response.
    void after_response(uint32_t index, Connection& c, bool keep_alive) {
        if (keep_alive && requeue_handshake(index)) {
            c.served = true;
            timers_.schedule(index, now_ + handshake_ticks());
        } else {
            begin_linger(index, c);
        }
    }

    // Input parked while a response was pending is processed at the end of
    // this turn (or dropped, when the connection is lingering now).
    void resume_parked(uint32_t index, Connection& c) {
        if (c.input_parked) parked_.schedule(index, generation(index));
    }

    // Traces what the app queued since `before` bytes (slow path: --trace only).
    void trace_queued(uint32_t index, Connection& c, size_t before) {
        iovec iov[io::kMaxSendIov];
        size_t n = c.out.gather(iov, io::kMaxSendIov);
        std::string bytes;
        for (size_t i = 0; i < n; ++i)
            bytes.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
        if (before < bytes.size())
            trace(index, c, "response", std::string_view(bytes).substr(before));
    }

    // Answers a request with an error status and closes after it (FIN, then
    // waits for the peer's FIN so unread request bytes do not turn into RST).
    // Logged through the refusal log: the first of each status per second in
    // full, the rest as counts (a peer can cause refusals at any rate). A
    // refused connection stops counting against max_connections.
    // head_request: the request was a HEAD, whose answer has no body.
    void refuse(uint32_t index, Connection& c, int status, std::string_view reason,
                bool head_request = false, uint32_t retry_after_s = 0) {
        refusal_log_.note(stderr, now_ms_, c.sock.fd, status, reason, rid(index));
        metrics_.refused(status);
        char response[kResponseCap];
        size_t n = proto::write_http_error(response, sizeof(response), status, reason, head_request,
                                           retry_after_s);
        c.out.append(chunks_, response, n);
        trace(index, c, "response", {response, n});
        uncount(c);
        // Under a flood the refusal slots must turn over quickly.
        uint32_t linger = settings_.close_timeout_ticks;
        if (under_pressure()) linger = std::min(linger, settings_.busy_handshake_timeout_ticks);
        begin_linger(index, c, linger);
    }

    // Returns how many of data[0, len) were used: all, unless the
    // connection yielded inside a compressed message (the rest is parked and
    // the connection scheduled for a later turn).
    size_t feed_frames(uint32_t index, Connection& c, uint8_t* data, size_t len) {
        FrameSink sink{*this, index, c};
        proto::DecodeResult r = c.decoder.feed(data, len, sink);
        last_piece_ = {};
        if (r.paused) {
            if (running_parked_ && yield_spent_) {
                yielded_.push_back({index, generation(index)});
            } else {
                parked_.schedule(index, generation(index));
            }
            return r.consumed;
        }
        if (r.error == proto::CloseCode::none) return len;
        // RFC 6455 §7.1.7: send a close frame, then close. The byte stream can
        // no longer be parsed, so the peer's close frame cannot be recognised:
        // FIN once our close frame is out, then read (and drop) until the
        // peer's FIN or the close timeout, so its unread bytes cause no RST.
        if (!c.close_sent) {
            log_server_close(rid(index), c.sock.fd, static_cast<uint16_t>(r.error),
                             reason_for(r.error));
            queue_close(c, static_cast<uint16_t>(r.error), reason_for(r.error));
        }
        begin_linger(index, c);
        return len;
    }

    static std::string_view reason_for(proto::CloseCode code) {
        switch (code) {
            case proto::CloseCode::protocol_error:
                return "protocol error";
            case proto::CloseCode::invalid_payload:
                return "invalid UTF-8";
            case proto::CloseCode::message_too_big:
                return "message too big";
            default:
                return "error";
        }
    }

    void queue_close(Connection& c, uint16_t code, std::string_view reason) {
        if (c.close_code == 0) c.close_code = code == 0 ? kNoStatusReceived : code;
        uint8_t frame[proto::kMaxServerFrameHeader + proto::kMaxControlPayload];
        size_t n = proto::write_close_frame(frame, code, reason);
        c.out.append(chunks_, frame, n);
        c.close_sent = true;
        count_sent(MessageKind::close, code == 0 ? 0 : 2 + reason.size());
        metrics_.close_sent.count(code == 0 ? kNoStatusReceived : code);  // 1005: no code sent
    }

    // The app hears of a connection's end once it stops being open (close
    // frame sent or received, failure, peer gone), not when its socket is
    // released after the closing handshake and linger: a subscriber that has
    // closed must stop counting at once. Its code: the peer's close code,
    // else the one the server sent, else 1006 (RFC 6455 §7.1.5: closed
    // without a close frame). The app still reads its state word in
    // on_close (to free what it names); sends are refused (not open).
    // A stream's end is told by on_stream_end with `stream_error` (0: FIN).
    void end_app(uint32_t index, Connection& c, int stream_error = -ECONNRESET) {
        if (!c.app_opened) return;
        if (c.stream) {
            // app_state(h) still answers in on_stream_end, as in on_close.
            if constexpr (StreamApplication<App, Self>) {
                app_.on_stream_end(*this, handle(index), stream_error);
            }
            c.app_opened = false;
            return;
        }
        uint16_t code = c.close_code != 0 ? c.close_code : kClosedAbnormally;
        app_.on_close(*this, handle(index), code);
        c.app_opened = false;  // app_state(h) is nullptr from here
    }

    // Starts the closing handshake from our side (RFC 6455 §7.1.7): close
    // frame, then wait for the peer's close up to the close timeout.
    // One line, unless the caller logged the close already (log = false).
    void fail(uint32_t index, Connection& c, proto::CloseCode code, std::string_view reason,
              bool log = true) {
        if (log) log_server_close(rid(index), c.sock.fd, static_cast<uint16_t>(code), reason);
        queue_close(c, static_cast<uint16_t>(code), reason);
        enter(c, ConnState::closing);
        end_app(index, c);
        timers_.schedule(index, now_ + settings_.close_timeout_ticks);
        after_output(index, c);
    }

    // After the last response/close frame: FIN once the output is sent, then
    // wait (bounded by the close timeout) for the peer to close its side.
    void begin_linger(uint32_t index, Connection& c) {
        begin_linger(index, c, settings_.close_timeout_ticks);
    }
    void begin_linger(uint32_t index, Connection& c, uint32_t linger_ticks) {
        end_handshake(index);
        enter(c, ConnState::lingering);
        end_app(index, c);
        c.fin_after_drain = true;
        timers_.schedule(index, now_ + linger_ticks);
        if (tls::TlsSession* t = tls_.find(index); t != nullptr && c.out.empty()) {
            tls_.close_notify(*t);
        }
        if (!has_output(index, c) && !c.sock.send_busy) {
            if (c.peer_eof) {
                kernel_close_notify(index, c);
                close_now(index, c);
            } else {
                send_fin(index, c);
            }
        } else if (!c.sock.closing) {
            backend_.request_send(index, generation(index), c.sock);
        }
    }

    // Under kernel TLS the close_notify (RFC 8446 §6.1) is an alert record
    // the kernel seals, sent once (synchronously: all data is out by now,
    // nothing is in flight) before FIN or the close that ends lingering.
    void kernel_close_notify(uint32_t index, const Connection& c) {
        if (tls_.take_kernel_close_notify(index)) tls::send_alert(c.sock.fd, 1, 0);
    }

    void send_fin(uint32_t index, Connection& c) {
        c.fin_after_drain = false;
        kernel_close_notify(index, c);
        backend_.shutdown_write(index, generation(index), c.sock);
        // Keep reading so the peer's FIN (or its leftover bytes) is seen.
        backend_.set_reading(index, generation(index), c.sock, true);
    }

    void close_now(uint32_t index, Connection& c) {
        timers_.cancel(index);
        end_handshake(index);
        backend_.close_socket(index, generation(index), c.sock);
    }

    uint32_t idle_half() const {
        uint32_t half = settings_.idle_timeout_ticks / 2;
        return half == 0 ? 1 : half;
    }

    void on_timer(uint32_t index) {
        Connection& c = pool_[index];
        if (c.sock.closing) return;
        switch (c.state) {
            case ConnState::http:
                if (handshakes_.in(index, HandshakeQueue::List::probation)) {
                    refuse(index, c, kOverloadStatus, "too many connections", false,
                           kOverloadRetryAfterS);
                    after_output(index, c);
                    return;
                }
                drop_handshake(index, "request timeout");
                return;
            case ConnState::responding:
                refuse(index, c, kNoAnswerStatus, "the application did not answer in time");
                resume_parked(index, c);
                after_output(index, c);
                return;
            case ConnState::open: {
                uint32_t quiet = now_ - c.last_rx_tick;
                if (quiet < idle_half()) {
                    c.ping_sent = false;
                    timers_.schedule(index, c.last_rx_tick + idle_half());
                } else if (!c.ping_sent) {
                    uint8_t frame[proto::kMaxServerFrameHeader];
                    size_t n = proto::write_control_frame(frame, proto::Opcode::ping, {});
                    c.out.append(chunks_, frame, n);
                    count_sent(MessageKind::ping, 0);
                    c.ping_sent = true;
                    timers_.schedule(index, c.last_rx_tick + settings_.idle_timeout_ticks);
                    after_output(index, c);
                } else if (quiet >= settings_.idle_timeout_ticks) {
                    fail(index, c, proto::CloseCode::going_away, "idle timeout");
                } else {
                    timers_.schedule(index, c.last_rx_tick + settings_.idle_timeout_ticks);
                }
                return;
            }
            case ConnState::closing:
            case ConnState::lingering:
                close_now(index, c);
                return;
            case ConnState::connecting:
                end_app(index, c, -ETIMEDOUT);
                close_now(index, c);
                return;
            case ConnState::stream:
                // Idle both ways (nothing received, nothing relayed to it).
                if (now_ - c.last_rx_tick < settings_.idle_timeout_ticks) {
                    timers_.schedule(index, c.last_rx_tick + settings_.idle_timeout_ticks);
                    return;
                }
                end_app(index, c, -ETIMEDOUT);
                begin_linger(index, c);
                after_output(index, c);
                return;
        }
    }

    // ---- admission (see the comment above kRefusalSlots) ----

    // The peer key of an accepted socket for this loop's per-address
    // handshake cap (true when there is one), and into *edge_key the key of
    // the process-wide per-address limits (ws/peer_admission.hpp; 0: none).
    // Not known for a registered (direct) descriptor: getpeername needs a
    // real one.
    bool peer_of(int fd, uint64_t* key, uint64_t* edge_key) const {
        const bool edge = shared_.peers != nullptr;
        if ((settings_.max_handshakes_per_peer == 0 && !edge) ||
            settings_.backend.direct_descriptors) {
            return false;
        }
        sockaddr_storage addr;
        socklen_t len = sizeof(addr);
        if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
        const auto* sa = reinterpret_cast<const sockaddr*>(&addr);
        if (edge && !shared_.peers->key_of(sa, len, edge_key)) *edge_key = 0;
        return settings_.max_handshakes_per_peer != 0 &&
               peer_key(sa, len, peer_seed_, key, settings_.edge.ipv6_prefix_bits);
    }

    // --max-connections-per-ip and --connection-rate-per-ip: 429 with
    // Retry-After (false) or admitted, counted until the slot is released.
    bool admit_peer(uint32_t index, Connection& c, uint64_t key) {
        PeerAdmission::Result r = shared_.peers->admit(key, monotonic_ms32());
        switch (r.verdict) {
            case PeerAdmission::Verdict::admitted:
                if (!edge_peer_of_slot_) edge_peer_of_slot_.allocate(pool_.capacity());
                edge_peer_of_slot_[index] = key;
                return true;
            case PeerAdmission::Verdict::over_connections:
                metrics_.limited(EdgeLimit::peer_connections);
                refuse(index, c, kPeerCapStatus, "too many connections from this address", false,
                       r.retry_after_s);
                return false;
            case PeerAdmission::Verdict::over_rate:
                metrics_.limited(EdgeLimit::peer_connection_rate);
                refuse(index, c, kPeerCapStatus, "connection rate from this address over the limit",
                       false, r.retry_after_s);
                return false;
            case PeerAdmission::Verdict::table_full:
                break;
        }
        refuse(index, c, kOverloadStatus, "too many connections", false, kOverloadRetryAfterS);
        return false;
    }

    // The turn's clock as CLOCK_MONOTONIC milliseconds, which every loop
    // shares (the loops' own clocks start at their own start-up).
    uint32_t monotonic_ms32() const {
        return static_cast<uint32_t>(start_.tv_sec * 1000 + start_.tv_nsec / 1000000 + now_ms_);
    }

    // Which process-wide limit stopped an admission.
    enum class Limit : uint8_t { none, connections, handshakes };

    // Takes one connection and one handshake from the process-wide limits,
    // or neither.
    Limit take_admission_counts() {
        if (!take_connection()) return Limit::connections;
        if (!take_handshake()) {
            shared_.connections.fetch_sub(1, std::memory_order_relaxed);
            return Limit::handshakes;
        }
        return Limit::none;
    }
    bool take_connection() {
        if (shared_.connections.fetch_add(1, std::memory_order_relaxed) <
            settings_.max_connections) {
            return true;
        }
        shared_.connections.fetch_sub(1, std::memory_order_relaxed);
        return false;
    }
    bool take_handshake() {
        if (shared_.handshakes.fetch_add(1, std::memory_order_relaxed) < settings_.max_handshakes) {
            return true;
        }
        shared_.handshakes.fetch_sub(1, std::memory_order_relaxed);
        return false;
    }

    // A head completed on probation: the connection needs a connection slot
    // (displacing a handshake if need be), no handshake slot. False after
    // refusing it (503).
    bool admit_from_probation(uint32_t index, Connection& c) {
        handshakes_.remove(index);
        bool admitted = take_connection();
        if (!admitted) {
            uint32_t victim = displaceable_handshake();
            if (victim != HandshakeQueue::kNone) {
                drop_handshake(victim, kBusyDropReason);
                admitted = take_connection();
            }
        }
        if (!admitted) {
            refuse(index, c, kOverloadStatus, "too many connections", false, kOverloadRetryAfterS);
            return false;
        }
        c.counted = true;
        return true;
    }

    bool under_pressure() const {
        return uint64_t{shared_.handshakes.load(std::memory_order_relaxed)} * 2 >
               settings_.max_handshakes;
    }

    uint32_t handshake_ticks() const {
        if (!under_pressure()) return settings_.handshake_timeout_ticks;
        return std::min(settings_.handshake_timeout_ticks, settings_.busy_handshake_timeout_ticks);
    }

    // The handshake to drop for a newcomer at the limit, or kNone (see the
    // comment above kRefusalSlots).
    uint32_t displaceable_handshake() const {
        uint32_t partial = handshakes_.oldest(HandshakeQueue::List::partial);
        if (partial != HandshakeQueue::kNone) return partial;
        uint32_t waiting = handshakes_.oldest(HandshakeQueue::List::waiting);
        if (waiting != HandshakeQueue::kNone &&
            turn_ - handshakes_.start_turn(waiting) >= kMinDisplaceableTurns &&
            now_ms32() - handshakes_.start_ms(waiting) >= kMinDisplaceableMs) {
            return waiting;
        }
        return HandshakeQueue::kNone;
    }

    void uncount(Connection& c) {
        if (!c.counted) return;
        c.counted = false;
        shared_.connections.fetch_sub(1, std::memory_order_relaxed);
    }

    // Forgets index's handshake (no-op when it has none): head read, refused
    // or closed. A probation entry holds no counts.
    void end_handshake(uint32_t index) {
        if (!handshakes_.queued(index)) return;
        bool counted = !handshakes_.in(index, HandshakeQueue::List::probation);
        bool has_peer = handshakes_.has_peer(index);
        uint64_t peer = handshakes_.peer(index);
        handshakes_.remove(index);
        if (!counted) return;
        if (has_peer) peers_.remove(peer);
        shared_.handshakes.fetch_sub(1, std::memory_order_relaxed);
    }

    // A keep-alive connection waits for its next head: a handshake again, at
    // the back of the queue. False when it needs a handshake slot (it was
    // served from probation) and none is free: then it is closed after the
    // response instead (RFC 9112 §9.6 allows closing between requests).
    bool requeue_handshake(uint32_t index) {
        if (!handshakes_.queued(index)) {
            if (!take_handshake()) return false;
            handshakes_.push(index, now_ms32(), turn_, 0, false);
            return true;
        }
        bool has_peer = handshakes_.has_peer(index);
        uint64_t peer = handshakes_.peer(index);
        handshakes_.remove(index);
        handshakes_.push(index, now_ms32(), turn_, peer, has_peer);
        return true;
    }

    // Ends a handshake that took too long: 408, or a quiet close for an idle
    // keep-alive connection (RFC 9112 §9.5).
    void drop_handshake(uint32_t index, std::string_view reason) {
        Connection& c = pool_[index];
        if (tls::TlsSession* t = tls_.find(index); t != nullptr && !t->established) {
            fail_tls(index, c, *t, "TLS handshake not completed in time");
            return;
        }
        if (c.served && c.handshake == nullptr && c.out.empty()) {
            begin_linger(index, c);
        } else {
            refuse(index, c, 408, reason);
        }
        after_output(index, c);
    }

    // Under pressure: drops the handshakes older than the busy deadline,
    // oldest first (each is dropped once, so this is bounded by the queue).
    void drop_overdue_handshakes() {
        for (uint32_t oldest = handshakes_.oldest();
             oldest != HandshakeQueue::kNone && under_pressure(); oldest = handshakes_.oldest()) {
            if (now_ms32() - handshakes_.start_ms(oldest) <
                settings_.busy_handshake_timeout_ticks * kTickMs) {
                return;
            }
            drop_handshake(oldest, kBusyDropReason);
        }
    }

    void begin_shutdown() {
        stopping_ = true;
        refusal_log_.flush_all(stderr, elapsed_ms());
        io::log_flush_all();
        log_stream_refusals(stream_log_.take(elapsed_ms()));
        // Rate-limit closes still held back by their throttles.
        for (bool messages : {true, false}) {
            LogThrottle& log = messages ? message_rate_log_ : byte_rate_log_;
            if (uint64_t n = log.take(elapsed_ms()); n != 0) {
                io::count_suppressed_lines(n);
                io::log(
                    io::LogLevel::info, messages ? "message_rate" : "byte_rate", io::kNoConn,
                    {{"closed", n}}, "closed %llu connection%s with 1008: %s",
                    static_cast<unsigned long long>(n), n == 1 ? "" : "s",
                    messages ? "over --max-messages-per-second" : "over --max-bytes-per-second");
            }
        }
        backend_.stop_accepting();
        if (settings_.drain_timeout_ticks > 0) {
            // Drain: established connections (WebSockets, relayed streams)
            // go on until the deadline or their own end; requests are
            // answered as at once.
            draining_ = true;
            drain_until_ = now_ + settings_.drain_timeout_ticks;
            close_all(false);
            return;
        }
        close_all(true);
    }

    // Closes what shutdown closes (`established`: also open WebSockets,
    // 1001, and streams, which the app hears of with -ESHUTDOWN).
    void close_all(bool established) {
        pool_.for_each([this, established](uint32_t index, Connection& c) {
            if (c.sock.closing) return;
            if (!established && (c.stream || c.state == ConnState::open)) return;
            if (c.stream || c.state == ConnState::open) {
                close_established(index, c, "server shutting down");
            } else if (c.state == ConnState::http && c.out.empty()) {
                close_now(index, c);
            } else if (c.state == ConnState::responding) {
                refuse(index, c, kOverloadStatus, "server shutting down");
                resume_parked(index, c);
                after_output(index, c);
            }
        });
    }

    // An open WebSocket gets 1001 with `reason`; a stream's app hears of its
    // end (it finishes the other side), then queued bytes go out and FIN follows.
    void close_established(uint32_t index, Connection& c, std::string_view reason) {
        if (!c.stream) {
            fail(index, c, proto::CloseCode::going_away, reason);
            return;
        }
        if (c.state == ConnState::lingering) return;
        end_app(index, c, -ESHUTDOWN);
        if (c.sock.closing || c.state == ConnState::lingering) return;
        if (c.state == ConnState::connecting) {
            close_now(index, c);
        } else {
            begin_linger(index, c);
            after_output(index, c);
        }
    }

    // ---- live upgrade (ws/connection_export.hpp) ----

    // Starts handing every open WebSocket connection to the new process:
    // stops accepting (the new process accepts on the same sockets), closes
    // at once what cannot move exactly (a compression context to keep)
    // and, quietly, idle keep-alive HTTP connections (RFC 9112 §9.6).
    // handover_turn then moves connections as they become quiet.
    void begin_handover(HandoverChannel* channel) {
        if (stopping_ || handover_ != nullptr) return;
        handover_ = channel;
        handover_deadline_ms_ = elapsed_ms() + channel->timeout_ms;
        if constexpr (HandoverLoopApplication<App, Self>) app_.on_handover_begin(*this);
        backend_.stop_accepting(io::AcceptStop::take_queued);
        pool_.for_each([this](uint32_t index, Connection& c) {
            if (c.sock.closing) return;
            if ((c.state == ConnState::open || c.state == ConnState::stream ||
                 c.state == ConnState::connecting) &&
                handover_check(index, c).verdict == HandoverCheck::Verdict::close) {
                handover_->closed.fetch_add(1);
                close_established(index, c, "server upgrading");
            } else if (c.state == ConnState::http && c.served && c.handshake == nullptr &&
                       c.out.empty() && !c.input_parked) {
                begin_linger(index, c);
            }
        });
    }

    // With no context takeover on either side there is no zlib window to
    // move: the agreement alone continues the connection exactly. A TLS
    // session's keys and sequence numbers live in OpenSSL: not movable.
    bool movable(uint32_t index, const Connection& c) {
        if (tls_.find(index) != nullptr || tls_.in_kernel(index)) return false;
        if (!c.compression.negotiated()) return true;
        proto::DeflateAgreement a = c.compression.agreement();
        return a.server_no_context_takeover && a.client_no_context_takeover;
    }

    // What moves of an open connection or a stream: the loop's own rules
    // (TLS, compression context), then the app's word for a pair (a stream
    // belongs to the app: without PairedHandoverApplication it waits for
    // the deadline).
    HandoverCheck handover_check(uint32_t index, Connection& c) {
        HandoverCheck check;
        if (c.stream) check.verdict = HandoverCheck::Verdict::wait;
        if constexpr (PairedHandoverApplication<App, Self>) {
            if (c.app_opened) check = app_.handover_check(*this, handle(index));
        }
        if (!movable(index, c)) check.verdict = HandoverCheck::Verdict::close;
        return check;
    }

    // Once per turn while handing over: each open connection (or stream of a
    // pair) at a message boundary stops reading; once nothing is in flight
    // and its output is out, it is sent (in batches of
    // HandoverChannel::kMaxBatch descriptors), a pair once both of its
    // connections are. One that stopped mid-message reads on until the
    // message is complete. Past the deadline, or once the channel broke,
    // what is left is closed 1001 (streams: FIN) as at shutdown. Ends (the
    // loop then ends too) when nothing is left to move and no accept can
    // deliver another connection.
    void handover_turn() {
        if (elapsed_ms() >= handover_deadline_ms_ || handover_->broken.load()) {
            uint64_t left = 0;
            pool_.for_each([&left](uint32_t, Connection& c) {
                if (!c.sock.closing && (c.state == ConnState::open || c.state == ConnState::stream))
                    ++left;
            });
            handover_->closed.fetch_add(left);
            if (!counted_empty_) {
                counted_empty_ = true;
                handover_->loops_empty.fetch_add(1);  // the others need not wait for this one
            }
            handover_ = nullptr;
            // Closed now (1001), whatever --drain-timeout says: the new
            // process serves new connections already.
            stopping_ = true;
            close_all(true);
            return;
        }
        uint32_t waiting = 0;
        ready_leads_.clear();
        ready_partners_.clear();
        pool_.for_each([&](uint32_t index, Connection& c) {
            if (c.sock.closing) return;
            if (c.state == ConnState::http || c.state == ConnState::responding) {
                ++waiting;  // on its way to open (or to the deadline)
                return;
            }
            if (c.state != ConnState::open && c.state != ConnState::stream &&
                c.state != ConnState::connecting) {
                return;  // closing: finishes here
            }
            if constexpr (!PairedHandoverApplication<App, Self>) {
                // Outbound streams not paired with a client are the
                // application's own links (a broker's): they end with the loop.
                if (c.stream) return;
            }
            HandoverCheck check = handover_check(index, c);
            if (check.verdict ==
                HandoverCheck::Verdict::close) {  // opened since the handover began
                handover_->closed.fetch_add(1);
                close_established(index, c, "server upgrading");
                return;
            }
            ++waiting;
            if (c.state == ConnState::connecting || check.verdict == HandoverCheck::Verdict::wait ||
                !quiet_for_handover(index, c, check)) {
                return;
            }
            if (!check.partner.empty()) {
                if (check.lead) {
                    ready_leads_.push_back({index, generation(index), check.partner});
                } else {
                    ready_partners_.push_back(handle(index).bits());
                }
                return;
            }
            if constexpr (HandoverApplication<App, Self>) {
                if (!app_.movable(*this, handle(index))) return;  // an answer still owed
            }
            if (!export_connection(index, c)) {
                handover_->closed.fetch_add(1);
                fail(index, c, proto::CloseCode::going_away, "server upgrading");
            }
            --waiting;
        });
        // A pair goes once both of its connections are ready in this turn.
        std::sort(ready_partners_.begin(), ready_partners_.end());
        for (const ReadyLead& lead : ready_leads_) {
            if (!std::binary_search(ready_partners_.begin(), ready_partners_.end(),
                                    lead.partner.bits())) {
                continue;
            }
            Connection* c = pool_.find(lead.index, lead.generation);
            Connection* p = resolve(pool_, loop_id_, lead.partner);
            if (c == nullptr || p == nullptr) continue;
            export_pair(lead.index, *c, lead.partner.index(), *p);
            waiting -= 2;
        }
        flush_handover();
        if (waiting == 0 && !backend_.accepting()) {
            if constexpr (HandoverLoopApplication<App, Self>) {
                // The loop's own state goes last, once no loop holds a
                // connection (none can send this loop another request).
                if (!counted_empty_) {
                    counted_empty_ = true;
                    handover_->loops_empty.fetch_add(1);
                }
                if (handover_->loops_empty.load() < handover_->loops || !app_.loop_state_ready())
                    return;
                std::vector<uint8_t> state;
                app_.export_loop_state(*this, state);
                handover_->send_loop_state(loop_id_, state);
            }
            handover_ = nullptr;
            stopping_ = true;  // what is closing finishes; then run() returns
            close_all(true);   // the application's own links (FIN): all else has moved
        }
    }

    // Steers reading for the handover: a connection between messages stops
    // reading (io_uring: its receive's last completion is still processed),
    // one inside a message reads on until it is complete. True once it has
    // stopped, holds no input, has nothing queued and nothing in flight.
    bool quiet_for_handover(uint32_t index, Connection& c, const HandoverCheck& check) {
        const uint32_t gen = generation(index);
        bool mid_message = !check.at_boundary || c.input_parked;
        if (c.state == ConnState::open) {
            mid_message = mid_message || !c.decoder.at_message_boundary() || c.out_in_message ||
                          LoopCompression::receiving(c.compression);
        }
        if (mid_message) {
            // Parked stream input and a relay's paused side resume by
            // themselves (on_stream_drained): reading now would pass their cap.
            if (!c.sock.want_read && !over_cap(index, c) && !c.relay_paused &&
                !(c.stream && c.input_parked)) {
                backend_.set_reading(index, gen, c.sock, true);
            }
            return false;
        }
        if (c.sock.want_read) {
            backend_.set_reading(index, gen, c.sock, false);
            return false;
        }
        return c.out.empty() && Backend<Self>::idle(c.sock);
    }

    // False: the application cannot move it (its state is too large or
    // refused); the caller closes it 1001. `lead`: the first of a pair, which
    // carries the pair's application state (the next export is its partner).
    bool export_connection(uint32_t index, Connection& c, bool lead = false) {
        ExportedConnection r;
        export_app_.clear();
        if constexpr (HandoverApplication<App, Self>) {
            if (!app_.export_state(*this, handle(index), export_app_) ||
                export_app_.bytes.size() > AppExport::kMaxBytes ||
                export_app_.fds.size() > AppExport::kMaxFds) {
                return false;
            }
        }
        if constexpr (PairedHandoverApplication<App, Self>) {
            if (lead) {
                app_.export_pairing(*this, handle(index), export_app_);
                r.flags |= ExportedConnection::kJoinedWithNext;
            }
        }
        r.app_bytes = static_cast<uint16_t>(export_app_.bytes.size());
        r.app_fds = static_cast<uint8_t>(export_app_.fds.size());
        // The batch is sent first when this connection would not fit in it
        // (a pair's room is made for both by export_pair).
        if (!lead && export_fds_.size() + 1 + r.app_fds > HandoverChannel::kMaxBatch) {
            flush_handover();
        }
        if (!lead && (export_records_.size() + 1) * sizeof(ExportedConnection) +
                             export_bytes_.size() + r.app_bytes >
                         HandoverChannel::kMaxBatchBytes) {
            flush_handover();
        }
        r.idle_ms = (now_ - c.last_rx_tick) * kTickMs;
        r.listener = c.listener;
        r.source_loop = loop_id_;
        if (c.ping_sent) r.flags |= ExportedConnection::kPingSent;
        if (c.stream) r.flags |= ExportedConnection::kStream;
        if (c.compression.negotiated()) {
            proto::DeflateAgreement a = c.compression.agreement();
            r.flags |= ExportedConnection::kDeflate;
            if (a.server_no_context_takeover) r.flags |= ExportedConnection::kServerNoTakeover;
            if (a.client_no_context_takeover) r.flags |= ExportedConnection::kClientNoTakeover;
            r.server_window_bits = a.server_max_window_bits;
            r.client_window_bits = a.client_max_window_bits;
        }
        export_records_.push_back(r);
        export_bytes_.insert(export_bytes_.end(), export_app_.bytes.begin(),
                             export_app_.bytes.end());
        export_fds_.push_back(c.sock.fd);
        export_fds_.insert(export_fds_.end(), export_app_.fds.begin(), export_app_.fds.end());
        export_slots_.push_back({index, generation(index), lead});
        return true;
    }

    // A pair, lead first, in one batch (sent first when the two would not fit).
    void export_pair(uint32_t lead_index, Connection& lead, uint32_t partner_index,
                     Connection& partner) {
        if (export_fds_.size() + 2 > HandoverChannel::kMaxBatch ||
            (export_records_.size() + 2) * sizeof(ExportedConnection) + export_bytes_.size() +
                    kMaxPairStateBytes >
                HandoverChannel::kMaxBatchBytes) {
            flush_handover();
        }
        export_connection(lead_index, lead, true);
        export_connection(partner_index, partner);
    }

    // Sends the batch; each connection sent is let go here without a close
    // frame or FIN (its socket lives on in the new process). Not sent (the
    // channel broke): they stay, and the next turn closes them 1001.
    void flush_handover() {
        if (export_records_.empty()) return;
        bool sent = handover_->send(export_records_, export_bytes_, export_fds_);
        for (const ExportRef& ref : export_slots_) {
            Connection* c = pool_.find(ref.index, ref.generation);
            if (c == nullptr) continue;
            if (!sent) {
                backend_.set_reading(ref.index, ref.generation, c->sock, true);
                continue;
            }
            timers_.cancel(ref.index);
            const ConnectionHandle h(loop_id_, ref.index, ref.generation);
            if constexpr (HandoverApplication<App, Self>) app_.handed_over(*this, h);
            if constexpr (PairedHandoverApplication<App, Self>) {
                // Its partner, next in the batch, is still the app's here.
                if (ref.lead) app_.pairing_handed_over(*this, h);
            }
            c->app_opened = false;  // it lives on: the app's on_close is not for it
            backend_.hand_off(ref.index, ref.generation, c->sock);
        }
        export_records_.clear();
        export_bytes_.clear();
        export_fds_.clear();
        export_slots_.clear();
    }

    // Takes connections handed over by the old process: open WebSockets at
    // a message boundary, with their agreement and idle timer, and joined
    // pairs (lead first) that the app takes with the lead's state.
    void adopt(AdoptBatch* batch) {
        size_t at_bytes = 0;
        size_t at_fds = 0;
        const size_t n = batch->records.size();
        for (size_t i = 0; i < n; ++i) {
            const ExportedConnection& r = batch->records[i];
            std::span<const uint8_t> bytes(batch->app_bytes.data() + at_bytes, r.app_bytes);
            std::span<const int> fds(batch->fds.data() + at_fds, 1 + size_t{r.app_fds});
            at_bytes += r.app_bytes;
            at_fds += fds.size();
            if ((r.flags & ExportedConnection::kJoinedWithNext) != 0 && i + 1 < n) {
                const ExportedConnection& p = batch->records[++i];
                std::span<const int> partner(batch->fds.data() + at_fds, 1 + size_t{p.app_fds});
                at_bytes += p.app_bytes;
                at_fds += partner.size();
                if (!stopping_ && r.app_fds == 0 && p.app_fds == 0 &&
                    adopt_pair(r, fds[0], p, partner[0], bytes)) {
                    if (batch->adopted != nullptr) batch->adopted->fetch_add(2);
                    continue;
                }
                for (int fd : partner)
                    ::close(fd);
                for (int fd : fds)
                    ::close(fd);
                continue;
            }
            if (stopping_ || (r.flags & ExportedConnection::kStream) != 0 ||
                !adopt_one(r, fds[0], bytes, fds.subspan(1))) {
                for (int fd : fds)
                    ::close(fd);  // the peer sees the connection end
                continue;
            }
            if (batch->adopted != nullptr) batch->adopted->fetch_add(1);
        }
        delete batch;
    }

    // False: not taken (no slot); the caller closes its descriptors.
    bool adopt_one(const ExportedConnection& r, int fd, std::span<const uint8_t> app_bytes,
                   std::span<const int> app_fds) {
        uint32_t index = open_adopted(r, fd);
        if (index == io::SlotPool<Connection>::kNone) return false;
        app_.on_open(*this, handle(index));
        backend_.start_socket(index, generation(index), pool_[index].sock);
        // The application's state; from here the application owns app_fds.
        bool adopted = app_bytes.empty() && app_fds.empty();
        if constexpr (HandoverApplication<App, Self>) {
            adopted = app_.adopt_state(*this, handle(index), app_bytes, app_fds);
        } else {
            for (int extra : app_fds)
                ::close(extra);
        }
        if (!adopted) close(handle(index), 1001, "server upgrading");
        return true;
    }

    // False: not taken (no slot, or the app refused the state); the caller
    // closes both descriptors.
    bool adopt_pair(const ExportedConnection& lead, int lead_fd, const ExportedConnection& partner,
                    int partner_fd, std::span<const uint8_t> state) {
        if constexpr (PairedHandoverApplication<App, Self>) {
            const uint32_t a = open_adopted(lead, lead_fd);
            if (a == io::SlotPool<Connection>::kNone) return false;
            const uint32_t b = open_adopted(partner, partner_fd);
            if (b == io::SlotPool<Connection>::kNone ||
                !app_.adopt_pairing(*this, handle(a), handle(b), state)) {
                for (uint32_t index : {a, b}) {
                    if (index == io::SlotPool<Connection>::kNone) continue;
                    pool_[index].app_opened = false;
                    pool_[index].sock.fd = -1;  // closed by the caller
                    close_now(index, pool_[index]);
                }
                return false;
            }
            backend_.start_socket(a, generation(a), pool_[a].sock);
            backend_.start_socket(b, generation(b), pool_[b].sock);
            return true;
        }
        return false;
    }

    // A slot for a handed-over connection, open (a WebSocket) or a stream,
    // with its agreement and idle timer, not read yet. kNone: no slot.
    uint32_t open_adopted(const ExportedConnection& r, int fd) {
        uint32_t index = pool_.allocate(decoder_config_);
        if (index == io::SlotPool<Connection>::kNone) return index;
        Connection& c = pool_[index];
        c.sock.fd = fd;
        c.listener = r.listener & 7;
        if (c.listener != LoopMetrics::kOutboundSlot) {
            c.counted = true;  // over max_connections if need be: it was admitted before
            shared_.connections.fetch_add(1, std::memory_order_relaxed);
        }
        metrics_.by_listener[c.listener].opened();
        const bool stream = (r.flags & ExportedConnection::kStream) != 0;
        c.state = stream ? ConnState::stream : ConnState::open;
        c.stream = stream;
        metrics_.connections[static_cast<size_t>(phase_of(c.state))].add();
        if (r.flags & ExportedConnection::kDeflate) {
            proto::DeflateAgreement a;
            a.server_no_context_takeover = (r.flags & ExportedConnection::kServerNoTakeover) != 0;
            a.client_no_context_takeover = (r.flags & ExportedConnection::kClientNoTakeover) != 0;
            a.server_max_window_bits = r.server_window_bits;
            a.client_max_window_bits = r.client_window_bits;
            c.compression.set_agreement(a);
            proto::FrameDecoderConfig config = decoder_config_;
            config.rsv1_allowed = true;
            c.decoder.set_config(config);
        }
        const uint32_t quiet = std::min(r.idle_ms / kTickMs, now_);
        c.last_rx_tick = now_ - quiet;
        c.ping_sent = (r.flags & ExportedConnection::kPingSent) != 0;
        if (stream) {
            timers_.schedule(index, c.last_rx_tick + settings_.idle_timeout_ticks);
        } else {
            timers_.schedule(
                index, c.last_rx_tick + (c.ping_sent ? settings_.idle_timeout_ticks : idle_half()));
        }
        c.app_opened = true;
        return index;
    }

    // Connections plus output chunks (up to 16 KiB each) that must be gone
    // before a release is worth a walk over the allocator's pages.
    static constexpr uint64_t kMinReleaseDrop = 64;
    static constexpr size_t kResponseCap = 1024;
    static constexpr uint16_t kClosedAbnormally = 1006;  // RFC 6455 §7.4.1
    static constexpr uint16_t kNoStatusReceived = 1005;
    static constexpr int kOverloadStatus = 503;
    // When a client refused for load (503) or for its address's open
    // connections (429) may try again: no one knows when a slot frees up;
    // a second spreads the retries of a crowd over the next turns.
    static constexpr uint32_t kOverloadRetryAfterS = 1;
    // RFC 9110 §15.6.5: the server, acting as a gateway, got no timely answer
    // from the application behind it.
    static constexpr int kNoAnswerStatus = 504;
    // RFC 9110 §15.5.4: understood, and refused (Origin not allowed).
    static constexpr int kForbiddenStatus = 403;
    // RFC 6585 §4: the client (here: its address) sent too many requests.
    static constexpr int kPeerCapStatus = 429;
    static constexpr std::string_view kBusyDropReason = "request too slow while the server is busy";
    static constexpr int64_t kRefusalLogIntervalMs = 1000;
    static constexpr int64_t kStreamLogIntervalMs = 1000;
    // Accepted in turn T: a head sent with the connection is read by the end
    // of turn T + 1; and a client's head may trail its TCP handshake by a
    // few milliseconds (a busy client, jitter).
    static constexpr uint32_t kMinDisplaceableTurns = 2;
    static constexpr uint32_t kMinDisplaceableMs = 50;
    // 100-200 ms: far longer than a head sent with the connection takes.
    static constexpr uint32_t kProbationTicks = 2;
    static constexpr uint32_t kMaxProbation = kRefusalSlots / 2;  // per loop
    static constexpr int kHandoverPollMs = 10;
    // What a pair's state may take of a batch's application bytes (a
    // proxy pairing: two names and a few numbers).
    static constexpr size_t kMaxPairStateBytes = 1024;
    static constexpr time_t kClockHeadroomS = 24 * 3600;  // the longest idle time carried over

    uint32_t loop_id_;
    LoopInbox& inbox_;
    // The loop's copy of the snapshot it last adopted (adopt_settings): read
    // only by this thread, replaced whole between events.
    LoopSettings settings_;
    uint32_t started_max_connections_ = settings_.max_connections;
    uint32_t started_max_handshakes_ = settings_.max_handshakes;
    LoopShared& shared_;
    App& app_;
    proto::FrameDecoderConfig decoder_config_;
    io::SlotPool<Connection> pool_;
    HandshakeQueue handshakes_;
    PeerTable peers_;
    MessageRateLimit rates_;
    // The PeerAdmission key each slot's connection is counted under (0:
    // none), allocated on the first admission (zero pages: only the pages
    // of slots in use cost memory).
    ZeroPages<uint64_t> edge_peer_of_slot_;
    io::TimerWheel timers_;
    // No cap on cached chunks: what closing connections give back stays here
    // until release_memory() frees it, when the allocator returns it to the OS
    // at once (freed earlier, part of it would stay resident). The cache holds
    // at most what the loop's output fell by since the last release, and a
    // fall to half the peak triggers one.
    io::ChunkPool chunks_{io::ChunkPool::kUncapped};
    ParkedInput parked_{chunks_};
    // Inflate work this turn may still spend (LoopSettings::inflate_work_per_turn).
    uint64_t inflate_budget_ = 0;
    // Connections that spent the budget while parked input ran: scheduled
    // after the run, behind the others.
    struct YieldedRef {
        uint32_t index;
        uint32_t generation;
    };
    std::vector<YieldedRef> yielded_;
    // Live upgrade: where connections go, by when, and the batch being filled.
    HandoverChannel* handover_ = nullptr;
    int64_t handover_deadline_ms_ = 0;
    bool counted_empty_ = false;  // in handover_->loops_empty
    std::vector<ExportedConnection> export_records_;
    std::vector<uint8_t> export_bytes_;  // the batch's application bytes, in record order
    std::vector<int> export_fds_;        // per connection: its socket, then its app_fds
    AppExport export_app_;               // one connection's, before it joins the batch
    struct ExportRef {
        uint32_t index;
        uint32_t generation;
        bool lead;  // of a pair: the app forgets the pair once it is sent
    };
    std::vector<ExportRef> export_slots_;
    // Pairs whose connections were quiet in this handover turn.
    struct ReadyLead {
        uint32_t index;
        uint32_t generation;
        ConnectionHandle partner;
    };
    std::vector<ReadyLead> ready_leads_;
    std::vector<uint64_t> ready_partners_;  // handle bits, sorted
    bool running_parked_ = false;
    bool yield_spent_ = false;  // the last pause came after some of the budget was spent
    size_t peak_queued_ = 0;
    MemoryReleaseTimer release_timer_{settings_.memory_release_delay_ticks, kMinReleaseDrop};
    LoopCompression compression_;
    tls::TlsLoop tls_;
    // Sessions waiting for their receive to stop before the kernel takes them.
    std::vector<YieldedRef> kernel_pending_;
    bool kernel_refusal_logged_ = false;  // the first refusal of this loop is logged
    // False while decrypted bytes are delivered: they lie in the TLS
    // scratch, not in a receive buffer a send could borrow.
    bool rx_lendable_ = true;
    Backend<Self> backend_;
    std::span<uint8_t> last_piece_;
    std::span<uint8_t> stream_rx_;  // the receive buffer on_data is delivering
    size_t last_headroom_ = 0;
    timespec start_{};
    int64_t now_ms_ = 0;
    uint32_t now_ = 0;
    uint32_t turn_ = 0;  // loop turns begun, modulo 2^32
    uint64_t peer_seed_ = 0;
    bool stopping_ = false;
    bool draining_ = false;     // shutting down, established connections not closed yet
    uint32_t drain_until_ = 0;  // tick
    LogThrottle stream_log_{kStreamLogIntervalMs};
    RefusalLog refusal_log_{kRefusalLogIntervalMs};
    LogThrottle message_rate_log_{kRefusalLogIntervalMs};
    LogThrottle byte_rate_log_{kRefusalLogIntervalMs};
    LoopMetrics metrics_;
};

}  // namespace wsgate::ws
