// raw_echo_server: the physical-limit reference for wsgate's echo benchmarks.
// Plain TCP echo on io_uring, no framing, one thread: multishot accept, multishot
// receive into a provided buffer ring, and a send of each received buffer back,
// in order, one send in flight per connection. Whatever wsgate spends beyond this
// is the cost of WebSocket framing, unmasking, validation and its own design.
//
// usage: raw_echo_server [--listen 127.0.0.1:9100] [--max-seconds N]

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <string>
#include <vector>

namespace {

constexpr unsigned kSqEntries = 4096;
constexpr unsigned kCqEntries = 65536;
constexpr unsigned short kBufferGroup = 1;
constexpr std::uint32_t kBufferSize = 16384;
constexpr std::uint32_t kBufferCount = 8192;  // power of two (buffer ring requirement)
constexpr int kListenBacklog = 4096;
constexpr double kDefaultMaxSeconds = 3600;  // a forgotten server still stops by itself

enum class Op : std::uint8_t { kAccept = 1, kRecv = 2, kSend = 3 };
constexpr std::uint64_t pack(Op op, std::uint32_t gen, std::uint32_t fd) {
    return (std::uint64_t{static_cast<std::uint8_t>(op)} << 56) |
           (std::uint64_t{gen & 0xFFFFFF} << 32) | fd;
}

struct Pending {
    std::uint16_t bid;
    std::uint32_t offset;
    std::uint32_t length;
};

struct Conn {
    std::uint32_t gen = 0;
    bool open = false;
    bool send_busy = false;
    bool recv_ended = false;    // EOF seen: close once the queue drains
    std::deque<Pending> queue;  // received buffers not yet fully sent back, in order
};

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
    g_stop = 1;
}

class Server {
  public:
    bool start(std::uint32_t ip, std::uint16_t port);
    void run(double max_seconds);

  private:
    io_uring_sqe* sqe() {
        io_uring_sqe* s = io_uring_get_sqe(&ring_);
        while (s == nullptr) {
            io_uring_submit(&ring_);
            s = io_uring_get_sqe(&ring_);
        }
        return s;
    }
    std::uint8_t* buffer(std::uint16_t bid) { return buffers_ + std::size_t{bid} * kBufferSize; }
    void arm_accept() {
        io_uring_sqe* s = sqe();
        io_uring_prep_multishot_accept(s, listen_fd_, nullptr, nullptr,
                                       SOCK_CLOEXEC);  // Linux 5.19
        io_uring_sqe_set_data64(s, pack(Op::kAccept, 0, 0));
    }
    void arm_recv(int fd) {
        io_uring_sqe* s = sqe();
        io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);  // Linux 6.0
        s->flags |= IOSQE_BUFFER_SELECT;
        s->buf_group = kBufferGroup;
        io_uring_sqe_set_data64(s, pack(Op::kRecv, conns_[fd].gen, static_cast<std::uint32_t>(fd)));
    }
    void return_buffer(std::uint16_t bid) {
        io_uring_buf_ring_add(buf_ring_, buffer(bid), kBufferSize, bid,
                              io_uring_buf_ring_mask(kBufferCount), returned_++);
    }
    void send_next(int fd);
    void close_conn(int fd);
    void handle(const io_uring_cqe* cqe);

    io_uring ring_{};
    int listen_fd_ = -1;
    io_uring_buf_ring* buf_ring_ = nullptr;
    std::uint8_t* buffers_ = nullptr;
    int returned_ = 0;
    std::vector<Conn> conns_;  // indexed by fd
    std::vector<int> rearm_;
};

bool Server::start(std::uint32_t ip, std::uint16_t port) {
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    conns_.resize(lim.rlim_cur);

    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(ip);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listen_fd_, kListenBacklog) != 0) {
        std::perror("raw_echo_server: bind/listen");
        return false;
    }
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    params.cq_entries = kCqEntries;
    int rc = io_uring_queue_init_params(kSqEntries, &ring_, &params);
    if (rc < 0) {
        std::fprintf(stderr, "raw_echo_server: io_uring_queue_init: %s\n", std::strerror(-rc));
        return false;
    }
    const std::size_t ring_bytes = sizeof(io_uring_buf) * kBufferCount;
    void* ring_mem =
        mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void* buf_mem = mmap(nullptr, std::size_t{kBufferSize} * kBufferCount, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ring_mem == MAP_FAILED || buf_mem == MAP_FAILED) return false;
    buf_ring_ = static_cast<io_uring_buf_ring*>(ring_mem);
    buffers_ = static_cast<std::uint8_t*>(buf_mem);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(buf_ring_);
    reg.ring_entries = kBufferCount;
    reg.bgid = kBufferGroup;
    rc = io_uring_register_buf_ring(&ring_, &reg, 0);
    if (rc < 0) {
        std::fprintf(stderr, "raw_echo_server: io_uring_register_buf_ring: %s\n",
                     std::strerror(-rc));
        return false;
    }
    io_uring_buf_ring_init(buf_ring_);
    for (std::uint32_t b = 0; b < kBufferCount; ++b)
        return_buffer(static_cast<std::uint16_t>(b));
    io_uring_buf_ring_advance(buf_ring_, returned_);
    returned_ = 0;
    arm_accept();
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr.sin_addr, text, sizeof text);
    std::fprintf(stderr, "raw_echo_server: listening on %s:%u (io_uring, 1 thread)\n", text, port);
    return true;
}

void Server::send_next(int fd) {
    Conn& c = conns_[fd];
    if (c.send_busy) return;
    if (c.queue.empty()) {
        if (c.recv_ended) close_conn(fd);
        return;
    }
    const Pending& p = c.queue.front();
    io_uring_sqe* s = sqe();
    io_uring_prep_send(s, fd, buffer(p.bid) + p.offset, p.length - p.offset, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, pack(Op::kSend, c.gen, static_cast<std::uint32_t>(fd)));
    c.send_busy = true;
}

void Server::close_conn(int fd) {
    Conn& c = conns_[fd];
    for (const Pending& p : c.queue)
        return_buffer(p.bid);
    c.queue.clear();
    c.open = false;
    c.send_busy = false;
    ++c.gen;  // completions still in flight for this fd are now stale
    shutdown(fd, SHUT_RDWR);
    close(fd);
}

void Server::handle(const io_uring_cqe* cqe) {
    const std::uint64_t data = cqe->user_data;
    const auto op = static_cast<Op>(data >> 56);
    const int fd = static_cast<int>(static_cast<std::uint32_t>(data));
    const std::uint32_t gen = static_cast<std::uint32_t>(data >> 32) & 0xFFFFFF;
    if (op == Op::kAccept) {
        if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept();
        if (cqe->res < 0) return;
        const int nfd = cqe->res;
        if (static_cast<std::size_t>(nfd) >= conns_.size()) {
            close(nfd);
            return;
        }
        const int one = 1;
        setsockopt(nfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        Conn& c = conns_[nfd];
        c.open = true;
        c.recv_ended = false;
        c.send_busy = false;
        arm_recv(nfd);
        return;
    }
    Conn& c = conns_[fd];
    const bool current = c.open && (c.gen & 0xFFFFFF) == gen;
    if (op == Op::kRecv) {
        const bool has_buffer = cqe->flags & IORING_CQE_F_BUFFER;
        const auto bid = static_cast<std::uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        if (!current) {
            if (has_buffer) return_buffer(bid);
            return;
        }
        if (cqe->res > 0) {
            c.queue.push_back({bid, 0, static_cast<std::uint32_t>(cqe->res)});
            send_next(fd);
            if (!(cqe->flags & IORING_CQE_F_MORE)) rearm_.push_back(fd);
        } else if (cqe->res == -ENOBUFS) {
            rearm_.push_back(fd);  // flow control: re-arm once buffers come back
        } else {
            c.recv_ended = true;  // EOF or error: echo what is queued, then close
            send_next(fd);
        }
        return;
    }
    // Op::kSend
    if (!current) return;
    c.send_busy = false;
    if (cqe->res < 0) {
        close_conn(fd);
        return;
    }
    Pending& p = c.queue.front();
    p.offset += static_cast<std::uint32_t>(cqe->res);
    if (p.offset == p.length) {
        return_buffer(p.bid);
        c.queue.pop_front();
    }
    send_next(fd);
}

void Server::run(double max_seconds) {
    timespec start{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!g_stop) {
        __kernel_timespec timeout{};
        timeout.tv_nsec = 200'000'000;
        io_uring_cqe* first = nullptr;
        io_uring_submit_and_wait_timeout(&ring_, &first, 1, &timeout, nullptr);
        unsigned head = 0, seen = 0;
        io_uring_cqe* cqe = nullptr;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            handle(cqe);
            ++seen;
        }
        io_uring_cq_advance(&ring_, seen);
        if (returned_ > 0) {
            io_uring_buf_ring_advance(buf_ring_, returned_);
            returned_ = 0;
        }
        for (const int fd : rearm_)
            if (conns_[fd].open && !conns_[fd].recv_ended) arm_recv(fd);
        rearm_.clear();
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (static_cast<double>(now.tv_sec - start.tv_sec) > max_seconds) break;
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::uint32_t ip = INADDR_LOOPBACK;
    std::uint16_t port = 9100;
    double max_seconds = kDefaultMaxSeconds;
    constexpr const char* kUsage =
        "usage: raw_echo_server [--listen 127.0.0.1:9100] [--max-seconds N]\n";
    for (int i = 1; i < argc; i += 2) {
        const std::string flag = argv[i];
        if (i + 1 >= argc) {  // --help, or a flag without its value: never start by mistake
            std::fputs(kUsage, flag == "--help" || flag == "-h" ? stdout : stderr);
            return flag == "--help" || flag == "-h" ? 0 : 2;
        }
        const std::string value = argv[i + 1];
        if (flag == "--listen") {
            const auto colon = value.rfind(':');
            in_addr a{};
            if (colon == std::string::npos ||
                inet_pton(AF_INET, value.substr(0, colon).c_str(), &a) != 1) {
                std::fprintf(stderr, "raw_echo_server: bad --listen %s\n", value.c_str());
                return 2;
            }
            ip = ntohl(a.s_addr);
            port = static_cast<std::uint16_t>(std::atoi(value.c_str() + colon + 1));
        } else if (flag == "--max-seconds") {
            max_seconds = std::atof(value.c_str());
        } else {
            std::fprintf(stderr,
                         "usage: raw_echo_server [--listen 127.0.0.1:9100] [--max-seconds N]\n");
            return 2;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    Server server;
    if (!server.start(ip, port)) return 1;
    server.run(max_seconds);
    return 0;
}
