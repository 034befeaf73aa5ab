#include "io/uring_features.hpp"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/ring_setup.hpp"
#include "io/setup_buf_ring.hpp"
#include "io/uring_abi.hpp"

namespace wsgate::io {

namespace {

constexpr unsigned kEntries = 8;
constexpr uint32_t kBuffers = 8;
constexpr uint32_t kBufferBytes = 64;
constexpr uint16_t kGroup = 0;
constexpr long kWaitSeconds = 1;  // bound on every wait: a probe never hangs start-up
constexpr uint64_t kMessageTag = 0x5753'4741'5445;  // "WSGATE": the MSG_RING probe's user_data

constexpr UringFeatureInfo kFeatures[] = {
    {"single_issuer", 6, 0, &UringFeatures::single_issuer},
    {"defer_taskrun", 6, 1, &UringFeatures::defer_taskrun},
    {"coop_taskrun", 5, 19, &UringFeatures::coop_taskrun},
    {"buf_ring", 5, 19, &UringFeatures::buf_ring},
    {"multishot_accept", 5, 19, &UringFeatures::multishot_accept},
    {"multishot_recv", 6, 0, &UringFeatures::multishot_recv},
    {"direct_descriptors", 5, 19, &UringFeatures::direct_descriptors},
    {"shutdown_op", 5, 11, &UringFeatures::shutdown_op},
    {"msg_ring", 5, 18, &UringFeatures::msg_ring},
    {"cqe_skip_success", 5, 17, &UringFeatures::cqe_skip_success},
    {"registered_ring_fd", 5, 18, &UringFeatures::registered_ring_fd},
    {"no_sqarray", 6, 6, &UringFeatures::no_sqarray},
    {"recvsend_bundle", 6, 10, &UringFeatures::recvsend_bundle},
    {"buf_ring_inc", 6, 12, &UringFeatures::buf_ring_inc},
    {"recv_total_limit", 6, 17, &UringFeatures::recv_total_limit},
};

// A probe ring with the settled flags, torn down on scope exit.
class ProbeRing {
  public:
    explicit ProbeRing(unsigned flags) {
        ok_ = create_ring_with_flags(ring_, kEntries, flags) == 0;
    }
    ~ProbeRing() {
        if (ok_) io_uring_queue_exit(&ring_);
    }
    ProbeRing(const ProbeRing&) = delete;
    ProbeRing& operator=(const ProbeRing&) = delete;
    bool ok() const { return ok_; }
    io_uring& get() { return ring_; }

  private:
    io_uring ring_{};
    bool ok_ = false;
};

class Fd {
  public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    int* out() { return &fd_; }

  private:
    int fd_;
};

// A provided buffer ring of kBuffers tiny buffers, all handed to the kernel.
class ProbeBuffers {
  public:
    ProbeBuffers(io_uring& ring, uint16_t flags) : ring_(ring) {
        int err = 0;
        br_ = setup_buf_ring(ring, kBuffers, kGroup, &err, flags);
        if (br_ == nullptr) return;
        for (uint32_t i = 0; i < kBuffers; ++i) {
            io_uring_buf_ring_add(br_, bytes_[i], kBufferBytes, static_cast<unsigned short>(i),
                                  io_uring_buf_ring_mask(kBuffers), static_cast<int>(i));
        }
        io_uring_buf_ring_advance(br_, kBuffers);
    }
    ~ProbeBuffers() { free_buf_ring(ring_, br_, kBuffers, kGroup); }
    ProbeBuffers(const ProbeBuffers&) = delete;
    ProbeBuffers& operator=(const ProbeBuffers&) = delete;
    bool ok() const { return br_ != nullptr; }

  private:
    io_uring& ring_;
    io_uring_buf_ring* br_ = nullptr;
    char bytes_[kBuffers][kBufferBytes];
};

// Submits what is queued and waits (bounded) for the next completion.
bool next_cqe(io_uring& ring, io_uring_cqe* out) {
    io_uring_submit(&ring);
    __kernel_timespec ts{};
    ts.tv_sec = kWaitSeconds;
    io_uring_cqe* cqe = nullptr;
    if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) != 0) return false;
    *out = *cqe;
    io_uring_cqe_seen(&ring, cqe);
    return true;
}

// A listening Unix stream socket with an autobound abstract address, so the
// probe needs no port and no file system.
bool unix_listener(Fd* listener, sockaddr_un* addr, socklen_t* len) {
    *listener->out() = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener->get() < 0) return false;
    sockaddr_un any{};
    any.sun_family = AF_UNIX;
    if (bind(listener->get(), reinterpret_cast<const sockaddr*>(&any), sizeof(sa_family_t)) != 0 ||
        listen(listener->get(), 4) != 0) {
        return false;
    }
    *len = sizeof(*addr);
    return getsockname(listener->get(), reinterpret_cast<sockaddr*>(addr), len) == 0;
}

bool connect_to(const sockaddr_un& addr, socklen_t len, Fd* client) {
    *client->out() = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return client->get() >= 0 &&
           connect(client->get(), reinterpret_cast<const sockaddr*>(&addr), len) == 0;
}

// The ring flag kernels added last are seen by whether io_uring_setup takes
// them; NO_SQARRAY only with the raw system call, since liburing 2.3 would map
// (and write) the SQ array the flag removes.
bool setup_accepts_no_sqarray(unsigned flags) {
    io_uring_params p;
    std::memset(&p, 0, sizeof(p));
    p.flags = flags | kAlwaysSetupFlags | IORING_SETUP_NO_SQARRAY;
    p.cq_entries = kEntries * 4;
    long fd = syscall(__NR_io_uring_setup, kEntries, &p);
    if (fd < 0) return false;
    close(static_cast<int>(fd));
    return true;
}

bool setup_accepts(unsigned flags) {
    ProbeRing ring(flags);
    return ring.ok();
}

// Two single-byte writes must come back as two buffer-carrying completions
// of one request that stays armed (5.19 refuses the flag with EINVAL).
bool try_multishot_recv(unsigned flags) {
    ProbeRing ring(flags);
    if (!ring.ok()) return false;
    ProbeBuffers buffers(ring.get(), 0);
    int pair[2];
    if (!buffers.ok() || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        return false;
    }
    Fd mine(pair[0]);
    Fd peer(pair[1]);
    io_uring_sqe* sqe = io_uring_get_sqe(&ring.get());
    io_uring_prep_recv_multishot(sqe, mine.get(), nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kGroup;
    io_uring_cqe cqe{};
    for (int k = 0; k < 2; ++k) {
        if (write(peer.get(), "x", 1) != 1 || !next_cqe(ring.get(), &cqe)) return false;
        if (cqe.res != 1 || !(cqe.flags & IORING_CQE_F_BUFFER) ||
            !(cqe.flags & IORING_CQE_F_MORE)) {
            return false;
        }
    }
    return true;
}

// A multishot receive limited to 1 byte in total must end (no F_MORE) with
// its first delivery (the limit ends it once reached, so it takes both bytes
// written); older kernels refuse the limit (EINVAL) or ignore it (the
// receive stays armed). The limit is sqe->optlen, which
// shares its place with file_index (liburing 2.3's headers lack the name).
bool try_recv_total_limit(unsigned flags) {
    ProbeRing ring(flags);
    if (!ring.ok()) return false;
    ProbeBuffers buffers(ring.get(), 0);
    int pair[2];
    if (!buffers.ok() || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        return false;
    }
    Fd mine(pair[0]);
    Fd peer(pair[1]);
    io_uring_sqe* sqe = io_uring_get_sqe(&ring.get());
    io_uring_prep_recv_multishot(sqe, mine.get(), nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kGroup;
    sqe->file_index = 1;
    io_uring_cqe cqe{};
    if (write(peer.get(), "xy", 2) != 2 || !next_cqe(ring.get(), &cqe)) return false;
    return cqe.res >= 1 && (cqe.flags & IORING_CQE_F_BUFFER) && !(cqe.flags & IORING_CQE_F_MORE);
}

// An accept that stays armed after its first connection.
bool try_multishot_accept(unsigned flags) {
    ProbeRing ring(flags);
    Fd listener;
    sockaddr_un addr{};
    socklen_t len = 0;
    if (!ring.ok() || !unix_listener(&listener, &addr, &len)) return false;
    io_uring_sqe* sqe = io_uring_get_sqe(&ring.get());
    io_uring_prep_multishot_accept(sqe, listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_submit(&ring.get());
    Fd client;
    io_uring_cqe cqe{};
    if (!connect_to(addr, len, &client) || !next_cqe(ring.get(), &cqe)) return false;
    if (cqe.res >= 0) close(cqe.res);
    return cqe.res >= 0 && (cqe.flags & IORING_CQE_F_MORE);
}

// What --direct-descriptors does: a sparse registered file table, a
// multishot accept straight into it, a FIN and a close by table index.
bool try_direct_descriptors(unsigned flags) {
    ProbeRing ring(flags);
    Fd listener;
    sockaddr_un addr{};
    socklen_t len = 0;
    if (!ring.ok() || !unix_listener(&listener, &addr, &len)) return false;
    if (io_uring_register_files_sparse(&ring.get(), 4) != 0) return false;
    io_uring_sqe* sqe = io_uring_get_sqe(&ring.get());
    io_uring_prep_multishot_accept_direct(sqe, listener.get(), nullptr, nullptr, 0);
    io_uring_sqe_set_data64(sqe, 1);
    io_uring_submit(&ring.get());
    Fd client;
    io_uring_cqe cqe{};
    if (!connect_to(addr, len, &client) || !next_cqe(ring.get(), &cqe)) return false;
    if (cqe.res < 0 || !(cqe.flags & IORING_CQE_F_MORE)) return false;
    const unsigned index = static_cast<unsigned>(cqe.res);
    sqe = io_uring_get_sqe(&ring.get());
    io_uring_prep_shutdown(sqe, static_cast<int>(index), SHUT_WR);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_LINK;
    io_uring_sqe_set_data64(sqe, 2);
    sqe = io_uring_get_sqe(&ring.get());
    io_uring_prep_close_direct(sqe, index);
    io_uring_sqe_set_data64(sqe, 3);
    int done = 0;
    while (done < 2 && next_cqe(ring.get(), &cqe)) {
        if (cqe.user_data != 2 && cqe.user_data != 3) continue;
        if (cqe.res != 0) return false;
        ++done;
    }
    char byte;
    return done == 2 && recv(client.get(), &byte, 1, MSG_DONTWAIT) == 0;  // the FIN arrived
}

// A message from one ring lands as a completion on another (the pub/sub
// reactor's cross-loop inbox), with the flags every loop's ring has.
bool try_msg_ring(unsigned flags) {
    ProbeRing from(flags);
    ProbeRing to(flags);
    if (!from.ok() || !to.ok()) return false;
    io_uring_sqe* sqe = io_uring_get_sqe(&from.get());
    io_uring_prep_msg_ring(sqe, to.get().ring_fd, 7, kMessageTag, 0);
    io_uring_cqe cqe{};
    if (!next_cqe(from.get(), &cqe) || cqe.res != 0) return false;
    return next_cqe(to.get(), &cqe) && cqe.user_data == kMessageTag && cqe.res == 7;
}

// A skipped success posts nothing: of two no-ops only the unflagged one
// completes (before 5.17 the flagged one fails with EINVAL instead).
bool try_cqe_skip_success(unsigned flags) {
    ProbeRing ring(flags);
    if (!ring.ok() || !(ring.get().features & IORING_FEAT_CQE_SKIP)) return false;
    io_uring_sqe* sqe = io_uring_get_sqe(&ring.get());
    io_uring_prep_nop(sqe);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, 1);
    sqe = io_uring_get_sqe(&ring.get());
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, 2);
    io_uring_cqe cqe{};
    if (!next_cqe(ring.get(), &cqe) || cqe.user_data != 2 || cqe.res != 0) return false;
    io_uring_cqe* extra = nullptr;
    return io_uring_peek_cqe(&ring.get(), &extra) == -EAGAIN;
}

bool try_buf_ring(unsigned flags, uint16_t buf_flags) {
    ProbeRing ring(flags);
    if (!ring.ok()) return false;
    ProbeBuffers buffers(ring.get(), buf_flags);
    return buffers.ok();
}

bool try_registered_ring_fd(unsigned flags) {
    ProbeRing ring(flags);
    return ring.ok() && io_uring_register_ring_fd(&ring.get()) == 1;
}

// Opcode support from the kernel's own table, and the feature bits of a
// ring created with `flags`.
void read_kernel_tables(unsigned flags, UringFeatures* f) {
    ProbeRing ring(flags);
    if (!ring.ok()) return;
    f->recvsend_bundle = (ring.get().features & IORING_FEAT_RECVSEND_BUNDLE) != 0;
    io_uring_probe* probe = io_uring_get_probe_ring(&ring.get());
    if (probe == nullptr) return;
    f->shutdown_op = io_uring_opcode_supported(probe, IORING_OP_SHUTDOWN) != 0;
    const bool msg_ring_op = io_uring_opcode_supported(probe, IORING_OP_MSG_RING) != 0;
    io_uring_free_probe(probe);
    f->msg_ring = msg_ring_op && try_msg_ring(flags);
}

}  // namespace

std::span<const UringFeatureInfo> uring_feature_table() {
    return kFeatures;
}

UringFeatures probe_uring_features() {
    UringFeatures f;
    int err = 0;
    const unsigned flags = settle_setup_flags(&err);
    if (err != 0) {
        f.error = err;
        return f;
    }
    f.setup_flags = flags;
    f.single_issuer = setup_accepts(IORING_SETUP_SINGLE_ISSUER);
    f.defer_taskrun = (flags & IORING_SETUP_DEFER_TASKRUN) != 0;
    f.coop_taskrun = setup_accepts(IORING_SETUP_COOP_TASKRUN);
    f.no_sqarray = setup_accepts_no_sqarray(flags);
    f.buf_ring = try_buf_ring(flags, 0);
    f.buf_ring_inc = f.buf_ring && try_buf_ring(flags, IOU_PBUF_RING_INC);
    f.multishot_accept = try_multishot_accept(flags);
    f.multishot_recv = f.buf_ring && try_multishot_recv(flags);
    f.recv_total_limit = f.multishot_recv && try_recv_total_limit(flags);
    f.direct_descriptors = f.multishot_accept && try_direct_descriptors(flags);
    f.cqe_skip_success = try_cqe_skip_success(flags);
    f.registered_ring_fd = try_registered_ring_fd(flags);
    read_kernel_tables(flags, &f);
    return f;
}

const UringFeatures& uring_features() {
    static const UringFeatures features = probe_uring_features();
    return features;
}

std::string missing_uring_requirement(const UringFeatures& features, bool direct) {
    if (features.error != 0) return std::strerror(-features.error);
    bool UringFeatures::*required[] = {
        &UringFeatures::buf_ring,
        &UringFeatures::multishot_accept,
        &UringFeatures::multishot_recv,
        &UringFeatures::direct_descriptors,
    };
    for (bool UringFeatures::*member : required) {
        if (member == &UringFeatures::direct_descriptors && !direct) continue;
        if (features.*member) continue;
        for (const UringFeatureInfo& info : kFeatures) {
            if (info.member != member) continue;
            return std::string(info.name) + " (kernel " + std::to_string(info.kernel_major) + "." +
                   std::to_string(info.kernel_minor) + ")";
        }
    }
    return {};
}

std::string describe_uring_features(const UringFeatures& features) {
    if (features.error != 0) return std::string("unavailable: ") + std::strerror(-features.error);
    std::string out = "setup=";
    const struct {
        unsigned flag;
        const char* name;
    } kSetupNames[] = {
        {IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER"},
        {IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN"},
        {IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"},
        {IORING_SETUP_SUBMIT_ALL, "SUBMIT_ALL"},
        {IORING_SETUP_CQSIZE, "CQSIZE"},
    };
    const unsigned used = features.setup_flags | kAlwaysSetupFlags;
    bool first = true;
    for (const auto& s : kSetupNames) {
        if (!(used & s.flag)) continue;
        if (!first) out += '|';
        out += s.name;
        first = false;
    }
    std::string missing;
    for (const UringFeatureInfo& info : kFeatures) {
        std::string& to = features.*info.member ? out : missing;
        to += ' ';
        to += info.name;
    }
    out += "; missing:";
    out += missing.empty() ? std::string(" none") : missing;
    return out;
}

}  // namespace wsgate::io
