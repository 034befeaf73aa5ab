// epoll event backend, for hosts where io_uring is unavailable. Same owner
// interface and public methods as UringBackend (see uring_backend.hpp).
// Connections are edge-triggered; a readable socket is read into one
// per-loop scratch buffer (so idle connections hold no buffer) up to
// kReadsPerTurn times per turn, then waits its turn again so one busy peer
// cannot starve the others. Output is written with writev at the end of the
// turn.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <span>
#include <vector>

#include "io/backend_options.hpp"
#include "io/log.hpp"
#include "io/loop_counters.hpp"
#include "io/loop_wake.hpp"
#include "io/socket_state.hpp"
#include "io/user_data.hpp"

namespace wsgate::io {

template <class Owner>
class EpollBackend {
  public:
    static constexpr const char* kName = "epoll";
    static constexpr int kReadsPerTurn = 4;
    static constexpr int kMaxEvents = 256;

    explicit EpollBackend(Owner& owner) : owner_(owner) {}
    ~EpollBackend() {
        if (epfd_ >= 0) ::close(epfd_);
    }
    EpollBackend(const EpollBackend&) = delete;
    EpollBackend& operator=(const EpollBackend&) = delete;

    int init(const BackendOptions& options, std::span<const int> listeners, int wake_fd) {
        epfd_ = epoll_create1(EPOLL_CLOEXEC);
        if (epfd_ < 0) return -errno;
        scratch_.resize(options.recv_buffer_size);
        listeners_.assign(listeners.begin(), listeners.end());
        for (uint32_t i = 0; i < listeners_.size(); ++i) {
            if (add(listeners_[i], EPOLLIN, pack_user_data(Op::accept, i, 0)) != 0) return -errno;
        }
        wake_fd_ = wake_fd;
        if (add(wake_fd, EPOLLIN, pack_user_data(Op::wake, 0, 0)) != 0) return -errno;
        return 0;
    }

    void start_socket(uint32_t index, uint32_t generation, SocketState& s) {
        s.want_read = true;
        s.writable = true;
        if (add(s.fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                pack_user_data(Op::recv, index, generation)) != 0) {
            owner_.on_io_error(index, -errno);
            return;
        }
        s.recv_armed = true;
        // Bytes may already be waiting (the edge happened before registration
        // is not an issue for epoll, but reading now saves a turn).
        s.readable = true;
        list_ready(index, generation, s);
    }

    // An outbound socket whose connect is in progress: watched for
    // writability (level-triggered) until start_connected switches it to a
    // connection's usual events, or close_socket. Returns 0 or -errno.
    int watch_connect(uint32_t index, uint32_t generation, SocketState& s) {
        if (add(s.fd, EPOLLOUT, pack_user_data(Op::connect, index, generation)) != 0) return -errno;
        return 0;
    }
    // Returns 0 (a failure to switch the events is reported as an I/O error).
    int start_connected(uint32_t index, uint32_t generation, SocketState& s) {
        s.want_read = true;
        s.writable = true;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.u64 = pack_user_data(Op::recv, index, generation);
        if (epoll_ctl(epfd_, EPOLL_CTL_MOD, s.fd, &ev) != 0) {
            owner_.on_io_error(index, -errno);
            return 0;
        }
        s.recv_armed = true;
        s.readable = true;
        list_ready(index, generation, s);
        return 0;
    }

    void set_reading(uint32_t index, uint32_t generation, SocketState& s, bool want) {
        if (s.closing || s.want_read == want) return;
        s.want_read = want;
        // No new edge comes for bytes that arrived while paused: read them now.
        if (want && s.readable) list_ready(index, generation, s);
    }

    void request_send(uint32_t index, uint32_t generation, SocketState& s) {
        if (s.dirty_listed || s.closing) return;
        s.dirty_listed = true;
        dirty_.push_back({index, generation});
    }

    void shutdown_write(uint32_t, uint32_t, SocketState& s) {
        if (s.shut_write || s.closing) return;
        s.shut_write = true;
        ::shutdown(s.fd, SHUT_WR);
    }

    void close_socket(uint32_t index, uint32_t generation, SocketState& s) {
        if (s.closing) return;
        s.closing = true;
        ::close(s.fd);  // also removes it from the epoll set
        s.fd = -1;
        released_.push_back({index, generation});
    }

    // Live upgrade: the descriptor was passed to another process, which
    // keeps the socket open. Closing ours would leave it in the epoll set
    // (a registration lives as long as the socket), so it is removed first.
    void hand_off(uint32_t index, uint32_t generation, SocketState& s) {
        if (s.closing) return;
        epoll_ctl(epfd_, EPOLL_CTL_DEL, s.fd, nullptr);
        close_socket(index, generation, s);
    }
    // Nothing in flight: the owner's queue and want_read say the rest.
    static bool idle(const SocketState&) { return true; }
    // Reads are synchronous: none is ever in flight between callbacks.
    static bool receive_in_flight(const SocketState&) { return false; }
    // Reads again after the owner dealt with the error that stopped reading
    // (kernel TLS: EIO for a record that is not data); no edge would come.
    void resume_reading(uint32_t index, uint32_t generation, SocketState& s) {
        if (s.closing) return;
        s.readable = true;
        if (s.want_read) list_ready(index, generation, s);
    }
    bool accepting() const {
        for (int fd : listeners_) {
            if (fd >= 0) return true;
        }
        return false;
    }

    // Zero-copy: nothing to lend (bytes are read into one scratch buffer
    // that the next read overwrites).
    static constexpr uint32_t kNoBuffer = UINT32_MAX;
    uint32_t hold_buffer() { return kNoBuffer; }
    void release_buffer(uint32_t) {}
    uint32_t held_buffers() const { return 0; }
    uint32_t lent_buffers() const { return 0; }

    LoopCounters& counters() { return counters_; }

    void close_unadopted(int fd) { ::close(fd); }

    // No ring to post wakes to: other threads write the eventfd.
    int message_ring_fd() const { return -1; }
    // Wakes another loop whose inbox this loop posted to.
    void wake_loop(LoopWake& target) { target.signal_eventfd(); }

    void forget(SocketState& s) {
        if (s.fd >= 0) ::close(s.fd);
        s.fd = -1;
    }

    // As UringBackend::stop_accepting; the listeners are non-blocking, so
    // what is queued for them is taken at once. (epoll wakes every waiter
    // of a listener, but a queue emptied here is one less race to reason
    // about.)
    void stop_accepting(AcceptStop how = AcceptStop::close) {
        for (uint32_t i = 0; i < listeners_.size(); ++i) {
            if (listeners_[i] < 0) continue;
            if (how == AcceptStop::take_queued) accept_all(i);
            ::close(listeners_[i]);
            listeners_[i] = -1;
        }
    }

    void run_turn(int timeout_ms) {
        if (accept_paused_ && (timeout_ms < 0 || timeout_ms > kAcceptRetryMs)) {
            timeout_ms = static_cast<int>(kAcceptRetryMs);
        }
        epoll_event events[kMaxEvents];
        ++counters_.turns;
        ++counters_.waits;
        int n = epoll_wait(epfd_, events, kMaxEvents, ready_.empty() ? timeout_ms : 0);
        if (accept_paused_ && monotonic_ms() >= accept_retry_ms_) watch_listeners(EPOLLIN);
        owner_.before_events();
        for (int i = 0; i < n; ++i)
            dispatch(events[i]);
        read_ready();
        owner_.after_events();
        flush_all();
        for (size_t k = 0; k < released_.size(); ++k)
            owner_.on_released(released_[k].index);
        released_.clear();
    }

  private:
    struct Ref {
        uint32_t index;
        uint32_t generation;
    };

    int add(int fd, uint32_t events, uint64_t data) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = data;
        return epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
    }

    void list_ready(uint32_t index, uint32_t generation, SocketState& s) {
        if (s.ready_listed) return;
        s.ready_listed = true;
        ready_.push_back({index, generation});
    }

    void dispatch(const epoll_event& ev) {
        UserData ud = unpack_user_data(ev.data.u64);
        switch (ud.op) {
            case Op::accept:
                accept_all(ud.index);
                break;
            case Op::wake: {
                uint64_t v;
                while (::read(wake_fd_, &v, sizeof(v)) > 0) {
                }
                owner_.on_wake();
                break;
            }
            case Op::recv: {
                SocketState* s = owner_.socket(ud.index, ud.generation);
                if (s == nullptr || s->closing) return;
                if (ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                    s->readable = true;
                    list_ready(ud.index, ud.generation, *s);
                }
                if (ev.events & EPOLLOUT) {
                    s->writable = true;
                    request_send(ud.index, ud.generation, *s);
                }
                break;
            }
            case Op::connect: {
                SocketState* s = owner_.socket(ud.index, ud.generation);
                if (s != nullptr && !s->closing) owner_.on_connect_ready(ud.index);
                break;
            }
            default:
                break;
        }
    }

    void accept_all(uint32_t i) {
        if (listeners_[i] < 0 || accept_paused_) return;
        for (;;) {
            int fd = accept4(listeners_[i], nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE) {
                    pause_accepting(errno);
                    return;
                }
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                    log_limited(kAcceptFailedEvent, 0, kNoConn, {}, "accept failed: %s",
                                std::strerror(errno));
                }
                if (errno == EINTR || errno == ECONNABORTED) continue;
                return;
            }
            pause_logged_ = false;
            ++counters_.accepts;
            owner_.on_accept(fd, i);
        }
    }

    // Out of descriptors: the connection stays in the listen backlog, and the
    // level-triggered listener would wake every epoll_wait at once (a busy
    // loop, a log line each turn). Stop watching the listeners and retry
    // after kAcceptRetryMs; log once until an accept succeeds again.
    void pause_accepting(int error) {
        if (!pause_logged_) {
            log(LogLevel::warn, "accept_paused", kNoConn, {}, "accept paused: %s",
                std::strerror(error));
            pause_logged_ = true;
        }
        watch_listeners(0);
        accept_retry_ms_ = monotonic_ms() + kAcceptRetryMs;
    }

    void watch_listeners(uint32_t events) {
        accept_paused_ = events == 0;
        for (uint32_t i = 0; i < listeners_.size(); ++i) {
            if (listeners_[i] < 0) continue;
            epoll_event ev{};
            ev.events = events;
            ev.data.u64 = pack_user_data(Op::accept, i, 0);
            epoll_ctl(epfd_, EPOLL_CTL_MOD, listeners_[i], &ev);
        }
    }

    static int64_t monotonic_ms() {
        timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return int64_t{t.tv_sec} * 1000 + t.tv_nsec / 1000000;
    }

    void read_ready() {
        // Swap so sockets re-listed during this pass are read next turn.
        pending_.swap(ready_);
        for (Ref r : pending_) {
            SocketState* s = owner_.socket(r.index, r.generation);
            if (s == nullptr) continue;
            s->ready_listed = false;
            read_socket(r, s);
        }
        pending_.clear();
    }

    void read_socket(Ref r, SocketState* s) {
        for (int k = 0; k < kReadsPerTurn; ++k) {
            if (s->closing || !s->want_read) return;
            ssize_t n = ::read(s->fd, scratch_.data(), scratch_.size());
            ++counters_.reads;
            if (n > 0) {
                owner_.on_data(r.index, scratch_.data(), static_cast<size_t>(n));
                s = owner_.socket(r.index, r.generation);
                if (s == nullptr) return;
                continue;
            }
            if (n == 0) {
                s->readable = false;
                owner_.on_eof(r.index);
                return;
            }
            if (errno == EAGAIN) {
                ++counters_.empty_reads;
                s->readable = false;
                return;
            }
            if (errno == EINTR) continue;
            s->readable = false;
            owner_.on_io_error(r.index, -errno);
            return;
        }
        list_ready(r.index, r.generation, *s);  // still readable: next turn
    }

    void flush_all() {
        for (size_t k = 0; k < dirty_.size(); ++k) {
            Ref r = dirty_[k];
            SocketState* s = owner_.socket(r.index, r.generation);
            if (s == nullptr) continue;
            s->dirty_listed = false;
            while (!s->closing && s->writable) {
                iovec iov[kMaxSendIov];
                size_t n = owner_.gather(r.index, iov, kMaxSendIov);
                if (n == 0) break;
                ssize_t w = ::writev(s->fd, iov, static_cast<int>(n));
                ++counters_.sends;
                if (w < 0) {
                    if (errno == EAGAIN) {
                        s->writable = false;  // EPOLLOUT edge re-lists it
                    } else if (errno != EINTR) {
                        owner_.on_io_error(r.index, -errno);
                    }
                    break;
                }
                size_t total = 0;
                for (size_t i = 0; i < n; ++i)
                    total += iov[i].iov_len;
                // on_sent may re-request a send (listed again: fine) or close.
                owner_.on_sent(r.index, static_cast<size_t>(w));
                if (static_cast<size_t>(w) < total) {
                    s->writable = false;
                    break;
                }
            }
        }
        dirty_.clear();
    }

    Owner& owner_;
    int epfd_ = -1;
    int wake_fd_ = -1;
    std::vector<int> listeners_;
    std::vector<uint8_t> scratch_;
    std::vector<Ref> ready_;
    std::vector<Ref> pending_;
    std::vector<Ref> dirty_;
    std::vector<Ref> released_;
    bool accept_paused_ = false;
    bool pause_logged_ = false;
    int64_t accept_retry_ms_ = 0;
    static constexpr int64_t kAcceptRetryMs = 100;  // as UringBackend
    LoopCounters counters_;
};

}  // namespace wsgate::io
