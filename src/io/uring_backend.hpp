// io_uring event backend: multishot accept per listener, one multishot
// receive per connection selecting buffers from the loop's BufferRing,
// one gathered sendmsg per connection per turn, and one
// io_uring_submit_and_wait_timeout per loop turn.
//
// Owner (a template parameter, no virtual calls) must provide:
//   SocketState* socket(uint32_t index, uint32_t generation);
//       nullptr when stale
//   void on_accept(int fd, uint32_t listener);  listener: its index in init's list
//       the owner calls start_socket or close_unadopted
//   void on_data(uint32_t index, uint8_t* data, size_t len);
//       bytes are mutable and valid during the call (hold_buffer() keeps them)
//   void on_eof(uint32_t index);                 the peer sent FIN
//   void on_io_error(uint32_t index, int err);   err is -errno
//   size_t gather(uint32_t index, iovec* iov, size_t max);
//       queued output as iovecs
//   void on_sent(uint32_t index, size_t bytes);  the kernel took `bytes`
//   void on_released(uint32_t index);            after close_socket: fd closed, nothing in flight
//   void on_wake();                              the wake eventfd fired, or another
//                                                loop posted a MSG_RING wake
//   void on_connect_ready(uint32_t index);       an outbound socket (watch_connect)
//                                                became writable or failed
//   void before_events();  once per turn after the wait, before completions
//   void after_events();   once per turn after completions, before flushing
#pragma once

#include <liburing.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "io/backend_options.hpp"
#include "io/buffer_ring.hpp"
#include "io/log.hpp"
#include "io/loop_counters.hpp"
#include "io/loop_wake.hpp"
#include "io/msg_ring.hpp"
#include "io/ring_setup.hpp"
#include "io/socket_state.hpp"
#include "io/uring_abi.hpp"
#include "io/uring_features.hpp"
#include "io/user_data.hpp"

namespace wsgate::io {

struct SendContext {
    msghdr msg;
    iovec iov[kMaxSendIov];
};

template <class Owner>
class UringBackend {
  public:
    static constexpr const char* kName = "io_uring";
    static constexpr uint16_t kBufferGroup = 0;

    explicit UringBackend(Owner& owner) : owner_(owner) {}
    ~UringBackend() {
        if (ring_ready_) {
            buffers_.reset();
            io_uring_queue_exit(&ring_);
        }
    }
    UringBackend(const UringBackend&) = delete;
    UringBackend& operator=(const UringBackend&) = delete;

    // Creates the ring (in the calling thread, which must be the only one to
    // use it), the buffer ring, and arms accept on every listener and a read
    // on wake_fd. Returns 0 or -errno.
    int init(const BackendOptions& options, std::span<const int> listeners, int wake_fd) {
        unsigned flags = 0;
        int rc = create_ring(ring_, options.ring_entries, &flags);
        if (rc != 0) return rc;
        ring_ready_ = true;
        buffers_ = std::make_unique<BufferRing>();
        rc = buffers_->init(ring_, kBufferGroup, options.recv_buffer_count,
                            options.recv_buffer_size);
        if (rc != 0) return rc;
        kernel_buffers_ = options.recv_buffer_count;
        recv_limit_ = uring_features().recv_total_limit ? kRecvBytesPerArm : 0;
        lend_budget_ = options.recv_buffer_count / kLendShare;
        if (options.direct_descriptors) {
            uint32_t files = options.fixed_files;
            rlimit lim{};
            getrlimit(RLIMIT_NOFILE, &lim);
            if (files == 0 || files > lim.rlim_cur) files = static_cast<uint32_t>(lim.rlim_cur);
            rc = io_uring_register_files_sparse(&ring_, files);
            if (rc != 0) return rc;
            direct_ = true;
            if (options.outbound_direct) {
                uint32_t outbound = files / 2;
                rc = io_uring_register_file_alloc_range(&ring_, 0, files - outbound);
                if (rc != 0) return rc;
                outbound_first_ = files - outbound;
                outbound_free_.reserve(outbound);
                for (uint32_t k = files; k-- > outbound_first_;)
                    outbound_free_.push_back(k);
            }
        }
        listeners_.assign(listeners.begin(), listeners.end());
        accept_armed_.assign(listeners_.size(), false);
        accept_stopping_.assign(listeners_.size(), false);
        for (uint32_t i = 0; i < listeners_.size(); ++i)
            arm_accept(i);
        wake_fd_ = wake_fd;
        arm_wake();
        msg_ring_ = msg_ring_supported(ring_);
        return 0;
    }

    // Wakes another loop whose inbox this loop posted to: a MSG_RING
    // completion into its ring when both have one (sent with this turn's
    // submission, so several posts in a turn cost one SQE per woken loop),
    // else its eventfd. A MSG_RING that fails (the target's ring is gone or
    // refuses) falls back to the eventfd when its completion arrives.
    void wake_loop(LoopWake& target) {
        int fd = target.ring_fd();
        if (!msg_ring_ || fd < 0) {
            target.signal_eventfd();
            return;
        }
        uint32_t slot;
        if (free_ring_wake_slots_.empty()) {
            slot = static_cast<uint32_t>(ring_wake_targets_.size());
            ring_wake_targets_.push_back(&target);
        } else {
            slot = free_ring_wake_slots_.back();
            free_ring_wake_slots_.pop_back();
            ring_wake_targets_[slot] = &target;
        }
        prep_ring_wake(get_sqe(), fd, kRingWakeUserData, pack_user_data(Op::ring_wake, slot, 0));
        target.count_ring_wake();
    }

    // The ring other io_uring loops may post wakes to (kRingWakeUserData,
    // IORING_OP_MSG_RING, kernel 5.18), or -1 when the kernel lacks it.
    int message_ring_fd() const { return msg_ring_ ? ring_.ring_fd : -1; }

    // Starts receiving on a socket whose fd the owner just stored.
    void start_socket(uint32_t index, uint32_t generation, SocketState& s) {
        s.want_read = true;
        arm_recv(index, generation, s);
    }

    // An outbound socket whose connect is in progress (io/outbound_connect.hpp):
    // the owner hears on_connect_ready once it is writable or has failed, then
    // calls start_connected (or close_socket). A poll rather than
    // IORING_OP_CONNECT, so that the connect itself is the one both backends
    // share. With direct descriptors the socket connects as a process
    // descriptor (the poll, then getsockopt SO_ERROR, need one) and
    // start_connected moves it into a fixed-file slot.
    int watch_connect(uint32_t index, uint32_t generation, SocketState& s) {
        s.plain_fd = direct_;
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_poll_add(sqe, s.fd, POLLOUT);
        io_uring_sqe_set_data64(sqe, pack_user_data(Op::connect, index, generation));
        ++s.inflight;
        return 0;
    }
    // Direct descriptors: the connected socket is installed in a free slot
    // of the outbound range (IORING_REGISTER_FILES_UPDATE, synchronous: no
    // completion to wait for) and its process descriptor closed, so an
    // established outbound connection holds no descriptor, like an accepted
    // one. Returns 0, or -ENFILE when the range is full (the owner closes).
    int start_connected(uint32_t index, uint32_t generation, SocketState& s) {
        if (direct_) {
            if (outbound_free_.empty()) return -ENFILE;
            uint32_t slot = outbound_free_.back();
            int fd = s.fd;
            int rc = io_uring_register_files_update(&ring_, slot, &fd, 1);
            if (rc < 0) return rc;
            outbound_free_.pop_back();
            ::close(fd);
            s.fd = static_cast<int>(slot);
            s.plain_fd = false;
        }
        start_socket(index, generation, s);
        return 0;
    }

    // Backpressure: want=false stops receiving (cancels the multishot
    // receive; bytes already received are still delivered); want=true
    // resumes. Bytes are never lost or reordered: a new receive is armed
    // only after the previous one has completed for good.
    void set_reading(uint32_t index, uint32_t generation, SocketState& s, bool want) {
        if (s.closing || s.want_read == want) return;
        s.want_read = want;
        if (!want) {
            if (s.recv_armed) {
                io_uring_sqe* sqe = get_sqe();
                io_uring_prep_cancel64(sqe, pack_user_data(Op::recv, index, generation), 0);
                io_uring_sqe_set_data64(sqe, pack_user_data(Op::cancel, index, generation));
            }
        } else if (!s.recv_armed && !s.rearm_listed) {
            arm_recv(index, generation, s);
        }
    }

    // The owner has output queued; it is sent at the end of this turn.
    void request_send(uint32_t index, uint32_t generation, SocketState& s) {
        if (s.dirty_listed || s.closing) return;
        s.dirty_listed = true;
        dirty_.push_back({index, generation});
    }

    // Sends FIN. Call only when no output is queued or in flight.
    void shutdown_write(uint32_t index, uint32_t generation, SocketState& s) {
        if (s.shut_write || s.closing) return;
        s.shut_write = true;
        if (!direct_) {
            ::shutdown(s.fd, SHUT_WR);
            return;
        }
        // A direct descriptor has no process fd, so the FIN goes through the
        // ring. IORING_OP_SHUTDOWN always runs from io-wq and looks the fixed
        // file up only there, possibly long after this call: it counts as in
        // flight, so the slot (and its registered-file index, which the next
        // accept reuses at once) is released only after it has completed.
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_shutdown(sqe, s.fd, SHUT_WR);
        sqe->flags |= IOSQE_FIXED_FILE;
        io_uring_sqe_set_data64(sqe, pack_user_data(Op::shutdown, index, generation));
        ++s.inflight;
    }

    // Zero-copy sends. Inside on_data: keeps the receive buffer being
    // delivered out of the ring (the owner may queue a send that refers to
    // its bytes) until release_buffer(id). Returns its id, or kNoBuffer when
    // nothing is being delivered or the loop's lending budget is spent: the
    // owner then copies. The budget (a quarter of the ring) is what peers
    // that never read can keep out of the ring all together; without it a
    // few of them hold every buffer and the loop's other connections get
    // ENOBUFS until those peers time out.
    static constexpr uint32_t kNoBuffer = UINT32_MAX;

    // What one armed receive may deliver before it ends and waits for the
    // next turn's re-arm (kernel 6.17; unlimited before). A connection whose
    // owner stops reading mid-turn has then been handed at most this much
    // more (otherwise whatever its socket held, up to the whole ring), and
    // one busy connection cannot take the whole ring in one turn.
    static constexpr uint32_t kRecvBytesPerArm = 256 * 1024;
    uint32_t recv_limit() const { return recv_limit_; }

    uint32_t hold_buffer() {
        if (delivering_ == kNoBuffer || lent_ >= lend_budget_) return kNoBuffer;
        buffers_->hold(static_cast<uint16_t>(delivering_));
        ++lent_;
        return delivering_;
    }
    void release_buffer(uint32_t id) {
        --lent_;
        buffers_->release(static_cast<uint16_t>(id));
    }
    // Receive buffers held out of the ring (O(ring): tests and stats), and
    // how many holds are lent out now / at most.
    uint32_t held_buffers() const { return buffers_->held(); }
    uint32_t lent_buffers() const { return lent_; }
    uint32_t lend_budget() const { return lend_budget_; }

    // What this loop asked of the kernel (see loop_counters.hpp).
    LoopCounters& counters() { return counters_; }

    // Closes a descriptor from on_accept that the owner did not adopt.
    void close_unadopted(int fd) { close_descriptor(fd); }

    // At exit: closes a socket's descriptor without any ceremony.
    void forget(SocketState& s) {
        if ((!direct_ || s.plain_fd) && s.fd >= 0) ::close(s.fd);  // direct ones go with the ring
        s.fd = -1;
    }

    // Cancels everything in flight for the socket and closes it; the owner
    // gets on_released(index) once no completion can refer to it any more.
    void close_socket(uint32_t index, uint32_t generation, SocketState& s) {
        if (s.closing) return;
        s.closing = true;
        if (s.inflight == 0) {
            released_.push_back({index, generation});
            return;
        }
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_cancel_fd(
            sqe, s.fd,
            IORING_ASYNC_CANCEL_ALL | (direct_ && !s.plain_fd ? IORING_ASYNC_CANCEL_FD_FIXED : 0));
        io_uring_sqe_set_data64(sqe, pack_user_data(Op::cancel, index, generation));
    }

    // Live upgrade: the descriptor was passed to another process (call only
    // when idle(s)); ours is closed, the socket lives on there.
    void hand_off(uint32_t index, uint32_t generation, SocketState& s) {
        close_socket(index, generation, s);
    }
    // No receive, send or half-close in flight: nothing more can arrive.
    static bool idle(const SocketState& s) { return s.inflight == 0 && !s.recv_armed; }
    // A receive may still deliver bytes it took from the socket (after
    // set_reading(false), until its last completion).
    static bool receive_in_flight(const SocketState& s) { return s.recv_armed; }
    // Receives again after the owner dealt with the error that ended the
    // receive (kernel TLS: EIO for a record that is not data).
    void resume_reading(uint32_t index, uint32_t generation, SocketState& s) {
        if (!s.closing && s.want_read && !s.recv_armed && !s.rearm_listed) {
            arm_recv(index, generation, s);
        }
    }
    // An accept may still deliver a connection (until its cancellation completes).
    bool accepting() const {
        for (bool armed : accept_armed_) {
            if (armed) return true;
        }
        return false;
    }

    // Stops accepting: cancels the multishot accepts. At shutdown the
    // listeners close at once. At a handover (AcceptStop::take_queued)
    // another process accepts from the same queues, and an io_uring accept
    // waits as an exclusive waiter: the kernel wakes one waiter per
    // connection, so a connection whose wake-up went to our accept as it
    // was cancelled would sit in the queue unseen by the other process until
    // the next connection wakes it. So each listener stays open until its
    // cancellation completes, then what is queued is taken here by accepts
    // that do not wait (on_accept_stopped) and served like any other.
    void stop_accepting(AcceptStop how = AcceptStop::close) {
        for (uint32_t i = 0; i < listeners_.size(); ++i) {
            if (listeners_[i] < 0 || accept_stopping_[i]) continue;
            io_uring_sqe* sqe = get_sqe();
            io_uring_prep_cancel64(sqe, pack_user_data(Op::accept, i, kMultishotAccept), 0);
            io_uring_sqe_set_data64(sqe, pack_user_data(Op::cancel, i, 0));
            if (how == AcceptStop::take_queued && accept_armed_[i]) {
                accept_stopping_[i] = true;
                continue;
            }
            ::close(listeners_[i]);  // the pending accept holds its own reference until cancelled
            listeners_[i] = -1;
        }
    }

    // One loop turn: submit everything prepared, wait up to timeout_ms (-1:
    // no limit) for a completion, dispatch all completions, let the owner
    // run its timers, return buffers, re-arm receives, flush output.
    void run_turn(int timeout_ms) {
        // A paused accept is retried from finish_turn: wake up for it.
        if (accept_rearm_ && (timeout_ms < 0 || timeout_ms > kAcceptRetryMs)) {
            timeout_ms = static_cast<int>(kAcceptRetryMs);
        }
        __kernel_timespec ts{};
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000;
        io_uring_cqe* cqe = nullptr;
        ++counters_.turns;
        ++counters_.waits;
        counters_.sqes += io_uring_sq_ready(&ring_);
        io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, timeout_ms < 0 ? nullptr : &ts, nullptr);
        owner_.before_events();

        unsigned head;
        unsigned count = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            dispatch(*cqe);
            ++count;
        }
        io_uring_cq_advance(&ring_, count);
        counters_.cqes += count;

        owner_.after_events();
        finish_turn();
    }

  private:
    struct Ref {
        uint32_t index;
        uint32_t generation;
    };

    io_uring_sqe* get_sqe() {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        while (sqe == nullptr) {
            ++counters_.forced_submits;
            int n = io_uring_submit(&ring_);
            if (n > 0) counters_.sqes += static_cast<unsigned>(n);
            sqe = io_uring_get_sqe(&ring_);
        }
        return sqe;
    }

    void arm_accept(uint32_t i) {
        io_uring_sqe* sqe = get_sqe();
        if (direct_) {
            io_uring_prep_multishot_accept_direct(sqe, listeners_[i], nullptr, nullptr, 0);
        } else {
            io_uring_prep_multishot_accept(sqe, listeners_[i], nullptr, nullptr, SOCK_CLOEXEC);
        }
        io_uring_sqe_set_data64(sqe, pack_user_data(Op::accept, i, kMultishotAccept));
        accept_armed_[i] = true;
    }

    // One accept that completes at once: a connection, or -EAGAIN when the
    // queue is empty (IORING_ACCEPT_DONTWAIT, 6.10; older kernels refuse
    // the flag with -EINVAL, which ends the taking as an empty queue does).
    void accept_queued(uint32_t i) {
        io_uring_sqe* sqe = get_sqe();
        if (direct_) {
            io_uring_prep_accept_direct(sqe, listeners_[i], nullptr, nullptr, 0,
                                        IORING_FILE_INDEX_ALLOC);
        } else {
            io_uring_prep_accept(sqe, listeners_[i], nullptr, nullptr, SOCK_CLOEXEC);
        }
        sqe->ioprio |= IORING_ACCEPT_DONTWAIT;
        io_uring_sqe_set_data64(sqe, pack_user_data(Op::accept, i, kQueuedAccept));
    }

    void arm_wake() {
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof(wake_value_), 0);
        io_uring_sqe_set_data64(sqe, pack_user_data(Op::wake, 0, 0));
    }

    void arm_recv(uint32_t index, uint32_t generation, SocketState& s) {
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_recv_multishot(sqe, s.fd, nullptr, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT | (direct_ ? IOSQE_FIXED_FILE : 0);
        sqe->buf_group = kBufferGroup;
        // The total limit (sqe->optlen, which is file_index's place in
        // liburing 2.3's headers): the receive ends after that many bytes
        // and is re-armed at the end of the turn.
        if (recv_limit_ != 0) sqe->file_index = recv_limit_;
        io_uring_sqe_set_data64(sqe, pack_user_data(Op::recv, index, generation));
        s.recv_armed = true;
        ++s.inflight;
    }

    void dispatch(const io_uring_cqe& cqe) {
        UserData ud = unpack_user_data(cqe.user_data);
        switch (ud.op) {
            case Op::recv:
                on_recv(ud, cqe);
                break;
            case Op::send:
                on_send(ud, cqe.res);
                break;
            case Op::accept:
                if (ud.generation == kQueuedAccept) {
                    on_accept_queued(ud.index, cqe.res);
                } else {
                    on_accept(ud.index, cqe);
                }
                break;
            case Op::wake:
                owner_.on_wake();
                if (ud.index == kWakeByEventfd) arm_wake();
                break;
            case Op::shutdown:
                on_shutdown(ud);
                break;
            case Op::ring_wake:
                on_ring_wake_sent(ud.index, cqe.res);
                break;
            case Op::connect:
                on_connect_polled(ud);
                break;
            case Op::cancel:
            case Op::none:
                break;
        }
    }

    void on_accept(uint32_t i, const io_uring_cqe& cqe) {
        if (cqe.res >= 0) {
            ++counters_.accepts;
            pause_logged_ = false;
            owner_.on_accept(cqe.res, i);
        } else if (cqe.res == -EMFILE || cqe.res == -ENFILE) {
            // Out of descriptors (or fixed-file slots): the connection waits in
            // the listen backlog; retry later instead of spinning. Logged once
            // until an accept succeeds, not at every retry.
            if (!pause_logged_) {
                log(LogLevel::warn, "accept_paused", kNoConn, {}, "accept paused: %s",
                    std::strerror(-cqe.res));
                pause_logged_ = true;
            }
            accept_backoff_ = true;
            accept_retry_ms_ = monotonic_ms() + kAcceptRetryMs;
        } else if (cqe.res != -ECANCELED) {
            log_limited(kAcceptFailedEvent, 0, kNoConn, {}, "accept failed: %s",
                        std::strerror(-cqe.res));
        }
        if (!(cqe.flags & IORING_CQE_F_MORE)) {
            if (accept_stopping_[i]) {
                accept_queued(i);  // accept_armed_ stays set: more may come
                return;
            }
            accept_armed_[i] = false;
            if (listeners_[i] >= 0) accept_rearm_ = true;
        }
    }

    // Taking what is queued at a stopped listener (stop_accepting): one
    // connection at a time until the queue is empty, then it closes.
    void on_accept_queued(uint32_t i, int res) {
        if (res >= 0) {
            ++counters_.accepts;
            owner_.on_accept(res, i);
            accept_queued(i);
            return;
        }
        if (res != -EAGAIN && res != -EINVAL) {
            log_limited(kAcceptFailedEvent, 0, kNoConn, {}, "accept failed: %s",
                        std::strerror(-res));
        }
        ::close(listeners_[i]);
        listeners_[i] = -1;
        accept_stopping_[i] = false;
        accept_armed_[i] = false;
    }

    void on_recv(UserData ud, const io_uring_cqe& cqe) {
        SocketState* s = owner_.socket(ud.index, ud.generation);
        if (cqe.flags & IORING_CQE_F_BUFFER) {
            uint16_t bid = static_cast<uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
            --kernel_buffers_;
            ++counters_.recv_cqes;
            buffers_->delivered(bid);
            if (s != nullptr && !s->closing && cqe.res > 0) {
                delivering_ = bid;
                owner_.on_data(ud.index, buffers_->buffer(bid), static_cast<size_t>(cqe.res));
                delivering_ = kNoBuffer;
            }
            // Back to the ring now unless the owner holds it for a send.
            buffers_->release(bid);
        }
        if (cqe.flags & IORING_CQE_F_MORE) return;
        if (s == nullptr) return;
        // The multishot receive has ended (EOF, error, ENOBUFS, cancel).
        s->recv_armed = false;
        --s->inflight;
        if (s->closing) {
            if (s->inflight == 0) released_.push_back({ud.index, ud.generation});
            return;
        }
        if (cqe.res == 0) {
            owner_.on_eof(ud.index);
        } else if (cqe.res < 0 && cqe.res != -ENOBUFS && cqe.res != -ECANCELED) {
            owner_.on_io_error(ud.index, cqe.res);
        } else if (s->want_read && !s->closing && !s->rearm_listed) {
            // ENOBUFS is flow control: wait until buffers are back in the ring.
            s->rearm_listed = true;
            rearm_.push_back({ud.index, ud.generation});
        }
    }

    void on_send(UserData ud, int res) {
        ++counters_.send_cqes;
        SocketState* s = owner_.socket(ud.index, ud.generation);
        if (s == nullptr) return;
        --s->inflight;
        s->send_busy = false;
        free_send_.push_back(s->send);
        s->send = nullptr;
        if (s->closing) {
            if (s->inflight == 0) released_.push_back({ud.index, ud.generation});
            return;
        }
        if (res < 0) {
            owner_.on_io_error(ud.index, res);
        } else {
            owner_.on_sent(ud.index, static_cast<size_t>(res));
        }
    }

    // A failed half-close (the peer already reset the connection) needs no
    // answer: the receive sees the reset or EOF and the owner closes.
    void on_shutdown(UserData ud) {
        SocketState* s = owner_.socket(ud.index, ud.generation);
        if (s == nullptr) return;
        --s->inflight;
        if (s->closing && s->inflight == 0) released_.push_back({ud.index, ud.generation});
    }

    void on_connect_polled(UserData ud) {
        SocketState* s = owner_.socket(ud.index, ud.generation);
        if (s == nullptr) return;
        --s->inflight;
        if (s->closing) {
            if (s->inflight == 0) released_.push_back({ud.index, ud.generation});
            return;
        }
        owner_.on_connect_ready(ud.index);
    }

    void finish_turn() {
        kernel_buffers_ += buffers_->publish();
        if (kernel_buffers_ > 0 && !rearm_.empty()) {
            for (Ref r : rearm_) {
                SocketState* s = owner_.socket(r.index, r.generation);
                if (s == nullptr) continue;
                s->rearm_listed = false;
                if (!s->closing && s->want_read && !s->recv_armed) {
                    arm_recv(r.index, r.generation, *s);
                }
            }
            rearm_.clear();
        }
        if (accept_rearm_ && (!accept_backoff_ || monotonic_ms() >= accept_retry_ms_)) {
            accept_rearm_ = false;
            accept_backoff_ = false;
            for (uint32_t i = 0; i < listeners_.size(); ++i) {
                if (listeners_[i] >= 0 && !accept_armed_[i]) arm_accept(i);
            }
        }
        for (size_t k = 0; k < dirty_.size(); ++k) {
            Ref r = dirty_[k];
            SocketState* s = owner_.socket(r.index, r.generation);
            if (s == nullptr) continue;
            s->dirty_listed = false;
            if (s->closing || s->send_busy) continue;  // on_sent re-requests
            flush(r, *s);
        }
        dirty_.clear();
        // Released last: owner_.on_released may free the slot.
        for (size_t k = 0; k < released_.size(); ++k) {
            Ref r = released_[k];
            SocketState* s = owner_.socket(r.index, r.generation);
            if (s == nullptr) continue;
            release_descriptor(*s);
            s->fd = -1;
            owner_.on_released(r.index);
        }
        released_.clear();
    }

    void flush(Ref r, SocketState& s) {
        SendContext* ctx = take_send_context();
        size_t n = owner_.gather(r.index, ctx->iov, kMaxSendIov);
        if (n == 0) {
            free_send_.push_back(ctx);
            return;
        }
        io_uring_sqe* sqe = get_sqe();
        if (n == 1) {
            // One piece (a short echo, a response): a plain send spares the
            // kernel copying and importing a msghdr and its iovec array.
            io_uring_prep_send(sqe, s.fd, ctx->iov[0].iov_base, ctx->iov[0].iov_len, MSG_NOSIGNAL);
        } else {
            std::memset(&ctx->msg, 0, sizeof(ctx->msg));
            ctx->msg.msg_iov = ctx->iov;
            ctx->msg.msg_iovlen = n;
            io_uring_prep_sendmsg(sqe, s.fd, &ctx->msg, MSG_NOSIGNAL);
        }
        ++counters_.sends;
        if (direct_) sqe->flags |= IOSQE_FIXED_FILE;
        io_uring_sqe_set_data64(sqe, pack_user_data(Op::send, r.index, r.generation));
        s.send = ctx;
        s.send_busy = true;
        ++s.inflight;
    }

    void on_ring_wake_sent(uint32_t slot, int res) {
        LoopWake* target = ring_wake_targets_[slot];
        free_ring_wake_slots_.push_back(slot);
        if (res < 0) target->signal_eventfd();
    }

    // A released socket's descriptor: a process one closed; a slot of the
    // outbound range cleared at once (synchronously, so that the slot can go
    // to the next connect without an IORING_OP_CLOSE still queued for it);
    // an accepted slot closed through the ring.
    void release_descriptor(SocketState& s) {
        if (direct_ && !s.plain_fd && static_cast<uint32_t>(s.fd) >= outbound_first_) {
            int none = -1;
            io_uring_register_files_update(&ring_, static_cast<unsigned>(s.fd), &none, 1);
            outbound_free_.push_back(static_cast<uint32_t>(s.fd));
            return;
        }
        if (s.plain_fd) {
            ::close(s.fd);
            s.plain_fd = false;
            return;
        }
        close_descriptor(s.fd);
    }

    void close_descriptor(int fd) {
        if (!direct_) {
            ::close(fd);
            return;
        }
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_close_direct(sqe, static_cast<unsigned>(fd));
        io_uring_sqe_set_data64(sqe, pack_user_data(Op::cancel, 0, 0));
    }

    static int64_t monotonic_ms() {
        timespec t;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
        return int64_t{t.tv_sec} * 1000 + t.tv_nsec / 1000000;
    }

    SendContext* take_send_context() {
        if (free_send_.empty()) {
            send_storage_.push_back(std::make_unique<SendContext>());
            return send_storage_.back().get();
        }
        SendContext* c = free_send_.back();
        free_send_.pop_back();
        return c;
    }

    Owner& owner_;
    io_uring ring_{};
    bool ring_ready_ = false;
    std::unique_ptr<BufferRing> buffers_;
    long kernel_buffers_ = 0;          // buffers the kernel may still fill (estimate for re-arming)
    uint32_t delivering_ = kNoBuffer;  // the buffer on_data is looking at
    // Zero-copy lending: at most 1/kLendShare of the ring lent at once.
    static constexpr uint32_t kLendShare = 4;
    uint32_t lend_budget_ = 0;
    uint32_t lent_ = 0;
    uint32_t recv_limit_ = 0;  // kRecvBytesPerArm when the kernel can limit a receive
    std::vector<int> listeners_;
    std::vector<bool> accept_armed_;
    std::vector<bool> accept_stopping_;  // cancelled; the queue is taken before closing
    // user_data generations of the two kinds of accept.
    static constexpr uint32_t kMultishotAccept = 0;
    static constexpr uint32_t kQueuedAccept = 1;
    bool accept_rearm_ = false;
    bool accept_backoff_ = false;
    bool pause_logged_ = false;
    int64_t accept_retry_ms_ = 0;
    bool direct_ = false;
    // Direct mode with outbound_direct: the outbound range's first slot and
    // its free slots (taken from the back).
    uint32_t outbound_first_ = UINT32_MAX;
    std::vector<uint32_t> outbound_free_;
    static constexpr int64_t kAcceptRetryMs = 100;
    int wake_fd_ = -1;
    uint64_t wake_value_ = 0;
    bool msg_ring_ = false;
    std::vector<LoopWake*> ring_wake_targets_;  // by slot, while a MSG_RING wake is in flight
    std::vector<uint32_t> free_ring_wake_slots_;
    std::vector<Ref> dirty_;
    std::vector<Ref> rearm_;
    std::vector<Ref> released_;
    std::vector<std::unique_ptr<SendContext>> send_storage_;
    std::vector<SendContext*> free_send_;
    LoopCounters counters_;
};

}  // namespace wsgate::io
