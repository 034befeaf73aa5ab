#include "client_ring.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace wsgate::bench {
namespace {

constexpr unsigned kSqEntries = 4096;
constexpr unsigned kCqEntries = 65536;  // multishot receives can post many completions per wait
constexpr unsigned short kBufferGroup = 1;

}  // namespace

ClientRing::~ClientRing() {
    if (ready_) io_uring_queue_exit(&ring_);
    if (buffers_) munmap(buffers_, std::size_t{buffer_size_} * buffer_count_);
    if (buf_ring_) munmap(buf_ring_, buf_ring_bytes_);
}

bool ClientRing::setup(std::uint32_t buffer_size, std::uint32_t buffer_count) {
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    params.cq_entries = kCqEntries;
    int rc = io_uring_queue_init_params(kSqEntries, &ring_, &params);
    if (rc == -EINVAL) {  // SINGLE_ISSUER/DEFER_TASKRUN arrived in Linux 6.0/6.1
        params = {};
        params.flags = IORING_SETUP_CQSIZE;
        params.cq_entries = kCqEntries;
        rc = io_uring_queue_init_params(kSqEntries, &ring_, &params);
    }
    if (rc < 0) {
        std::fprintf(stderr, "wsload: io_uring_queue_init: %s\n", std::strerror(-rc));
        return false;
    }
    ready_ = true;
    buffer_size_ = buffer_size;
    buffer_count_ = buffer_count;
    buf_ring_bytes_ = sizeof(io_uring_buf) * buffer_count_;
    void* ring_mem =
        mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void* buf_mem = mmap(nullptr, std::size_t{buffer_size_} * buffer_count_, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ring_mem == MAP_FAILED || buf_mem == MAP_FAILED) {
        std::fprintf(stderr, "wsload: mmap of receive buffers failed\n");
        return false;
    }
    buf_ring_ = static_cast<io_uring_buf_ring*>(ring_mem);
    buffers_ = static_cast<std::uint8_t*>(buf_mem);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(buf_ring_);
    reg.ring_entries = buffer_count_;
    reg.bgid = kBufferGroup;
    rc = io_uring_register_buf_ring(&ring_, &reg, 0);  // Linux 5.19
    if (rc < 0) {
        std::fprintf(stderr, "wsload: io_uring_register_buf_ring: %s\n", std::strerror(-rc));
        return false;
    }
    io_uring_buf_ring_init(buf_ring_);
    const int mask = io_uring_buf_ring_mask(buffer_count_);
    for (std::uint32_t b = 0; b < buffer_count_; ++b)
        io_uring_buf_ring_add(buf_ring_, buffers_ + std::size_t{b} * buffer_size_, buffer_size_,
                              static_cast<unsigned short>(b), mask, static_cast<int>(b));
    io_uring_buf_ring_advance(buf_ring_, static_cast<int>(buffer_count_));
    return true;
}

io_uring_sqe* ClientRing::sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    while (s == nullptr) {  // submission queue full: hand it to the kernel and retry
        io_uring_submit(&ring_);
        s = io_uring_get_sqe(&ring_);
    }
    return s;
}

void ClientRing::arm_recv(int fd, std::uint64_t user_data) {
    io_uring_sqe* s = sqe();
    io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);  // Linux 6.0
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(s, user_data);
}

void ClientRing::return_buffer(std::uint16_t bid) {
    io_uring_buf_ring_add(buf_ring_, buffers_ + std::size_t{bid} * buffer_size_, buffer_size_, bid,
                          io_uring_buf_ring_mask(buffer_count_), returned_++);
}

void ClientRing::publish_returned() {
    if (returned_ > 0) {
        io_uring_buf_ring_advance(buf_ring_, returned_);
        returned_ = 0;
    }
}

}  // namespace wsgate::bench
