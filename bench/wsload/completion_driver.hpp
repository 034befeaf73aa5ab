#pragma once
// The io_uring side every wsload mode shares: connects, sends and multishot
// receives submitted for connection slots, and each completion handed to the
// mode (a CompletionHandler) only while its slot is still the connection it
// was submitted for. Receives that stop for lack of buffers (ENOBUFS is flow
// control, not an error) or end are re-armed after the batch that returned
// its buffers.

#include <liburing.h>
#include <netinet/in.h>

#include <cerrno>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

#include "client_ring.hpp"
#include "completion_tag.hpp"
#include "loop_clock.hpp"
#include "shared_stats.hpp"

namespace wsgate::bench {

// What a mode answers for slot i < slot_count(), and what it does on events:
// on_connected(i) once its connect succeeded (its receive is armed by then),
// on_send(i, res) when a send completed, consume(i, bytes) with what arrived,
// finish(i) at the expected EOF, fail(i, kind) for everything that ends it
// otherwise (a failed connect is kConnect). conn(i): its socket (fd) and
// generation (gen); done(i): the connection is over, nothing is left to
// receive; receiving(i): a re-armed receive is wanted (connected, not done);
// closing(i): EOF is the expected end (finish) rather than a failure.
template <class M>
concept CompletionHandler = requires(M& m, std::uint32_t i, int res,
                                     std::span<const std::uint8_t> data) {
    { m.conn(i).fd } -> std::convertible_to<int>;
    { m.conn(i).gen } -> std::convertible_to<std::uint16_t>;
    { m.slot_count() } -> std::convertible_to<std::size_t>;
    { m.done(i) } -> std::same_as<bool>;
    { m.receiving(i) } -> std::same_as<bool>;
    { m.closing(i) } -> std::same_as<bool>;
    m.on_connected(i);
    m.on_send(i, res);
    m.consume(i, data);
    m.finish(i);
    m.fail(i, ErrorKind::kRecv);
};

class CompletionDriver {
  public:
    // The ring and `buffer_count` receive buffers of `buffer_size` bytes.
    bool setup(std::uint32_t buffer_size, std::uint32_t buffer_count) {
        return ring_.setup(buffer_size, buffer_count);
    }

    void connect(int fd, const sockaddr_in& dst, std::uint16_t gen, std::uint32_t i) {
        io_uring_sqe* s = ring_.sqe();
        io_uring_prep_connect(s, fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst);
        io_uring_sqe_set_data64(s, pack(Op::kConnect, gen, i));
    }
    void send(int fd, const void* bytes, std::size_t len, std::uint16_t gen, std::uint32_t i) {
        io_uring_sqe* s = ring_.sqe();
        io_uring_prep_send(s, fd, bytes, len, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(s, pack(Op::kSend, gen, i));
    }
    // After a send of `whole` completed with `res` bytes (`sent` of it written
    // before): true when a short write's rest was submitted again, false once
    // all of it is written.
    bool send_rest(int fd, std::span<const std::uint8_t> whole, std::uint32_t& sent, int res,
                   std::uint16_t gen, std::uint32_t i) {
        sent += static_cast<std::uint32_t>(res);
        if (sent >= whole.size()) return false;
        send(fd, whole.data() + sent, whole.size() - sent, gen, i);
        return true;
    }
    void arm_recv(int fd, std::uint16_t gen, std::uint32_t i) {
        ring_.arm_recv(fd, pack(Op::kRecv, gen, i));
    }

    // Submits what is queued, waits up to wait_ns for completions and hands
    // each to the mode (`now` updated before each); false after printing why
    // the wait failed.
    template <CompletionHandler M>
    bool turn(M& mode, std::uint64_t wait_ns, std::uint64_t& now) {
        __kernel_timespec timeout{};
        timeout.tv_sec = static_cast<long long>(wait_ns / kNsPerSecond);
        timeout.tv_nsec = static_cast<long long>(wait_ns % kNsPerSecond);
        io_uring_cqe* first = nullptr;
        const int rc = io_uring_submit_and_wait_timeout(ring_.ring(), &first, 1, &timeout, nullptr);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY) {
            std::fprintf(stderr, "wsload: io_uring wait: %s\n", std::strerror(-rc));
            return false;
        }
        unsigned head = 0, seen = 0;
        io_uring_cqe* cqe = nullptr;
        io_uring_for_each_cqe(ring_.ring(), head, cqe) {
            now = monotonic_ns();
            dispatch(mode, cqe);
            ++seen;
        }
        io_uring_cq_advance(ring_.ring(), seen);
        ring_.publish_returned();
        return true;
    }

    // Re-arms the receives that stopped in the last turn, for slots that
    // still want one.
    template <CompletionHandler M>
    void rearm(M& mode) {
        for (const std::uint32_t i : rearm_)
            if (mode.receiving(i)) arm_recv(mode.conn(i).fd, mode.conn(i).gen, i);
        rearm_.clear();
    }

  private:
    template <CompletionHandler M>
    void dispatch(M& mode, const io_uring_cqe* cqe) {
        const std::uint64_t data = cqe->user_data;
        const std::uint32_t i = index_of(data);
        // Not current: the slot was closed (and maybe reused) since this was submitted.
        const bool current =
            i < mode.slot_count() && mode.conn(i).gen == gen_of(data) && !mode.done(i);
        switch (op_of(data)) {
            case Op::kConnect:
                if (!current) break;
                if (cqe->res < 0) {
                    mode.fail(i, ErrorKind::kConnect);
                    break;
                }
                arm_recv(mode.conn(i).fd, mode.conn(i).gen, i);
                mode.on_connected(i);
                break;
            case Op::kSend:
                if (current) mode.on_send(i, cqe->res);
                break;
            case Op::kRecv:
                if (current) {
                    receive(mode, i, cqe);
                } else if (cqe->flags & IORING_CQE_F_BUFFER) {
                    ring_.return_buffer(
                        static_cast<std::uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
                }
                break;
        }
    }

    template <CompletionHandler M>
    void receive(M& mode, std::uint32_t i, const io_uring_cqe* cqe) {
        const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
        if (cqe->res < 0) {
            if (cqe->res == -ENOBUFS)
                rearm_.push_back(i);
            else
                mode.fail(i, ErrorKind::kRecv);
            return;
        }
        if (cqe->res == 0) {
            // EOF. Expected once we are closing; otherwise the server went away.
            if (mode.closing(i))
                mode.finish(i);
            else
                mode.fail(i, ErrorKind::kUnexpectedClose);
            return;
        }
        const auto bid = static_cast<std::uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        mode.consume(i, ring_.received(bid, cqe->res));
        ring_.return_buffer(bid);
        if (!more && !mode.done(i)) rearm_.push_back(i);
    }

    ClientRing ring_;
    std::vector<std::uint32_t> rearm_;
};

}  // namespace wsgate::bench
