#include "gateway/admin_server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "proto/http_request.hpp"
#include "proto/http_response.hpp"

namespace wsgate::gateway {
namespace {

constexpr size_t kMaxHeadBytes = 8192;

void set_timeouts(int fd) {
    timeval tv{AdminServer::kIoTimeoutMs / 1000, (AdminServer::kIoTimeoutMs % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

bool send_all(int fd, const char* data, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        len -= static_cast<size_t>(n);
    }
    return true;
}

void answer(int fd, const AdminResponse& r, bool head_only, std::string_view allow = {}) {
    char head[512];
    size_t n = proto::write_http_response_head(head, sizeof(head), r.status, r.content_type,
                                               r.body.size(), false);
    std::string out(head, n);
    if (!allow.empty()) {
        // RFC 9110 §15.5.6: a 405 names the methods the resource allows.
        out.insert(out.size() - 2, "Allow: " + std::string(allow) + "\r\n");
    }
    if (!head_only) out += r.body;
    send_all(fd, out.data(), out.size());
}

}  // namespace

int AdminServer::start(int listen_fd, AdminHandler handler) {
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return -errno;
    listen_fd_ = listen_fd;
    handler_ = std::move(handler);
    thread_ = std::thread([this] { run(); });
    return 0;
}

void AdminServer::stop() {
    if (thread_.joinable()) {
        uint64_t one = 1;
        if (write(wake_fd_, &one, sizeof(one)) < 0) {
            // An eventfd write fails only on counter overflow: the thread is woken anyway.
        }
        thread_.join();
    }
    if (listen_fd_ >= 0) close(listen_fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
    listen_fd_ = wake_fd_ = -1;
}

void AdminServer::run() {
    for (;;) {
        pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        int n = poll(fds, 2, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents != 0) return;
        if ((fds[0].revents & POLLIN) == 0) continue;
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;  // the peer left, or out of descriptors: try the next
        serve_one(fd);
        close(fd);
    }
}

void AdminServer::serve_one(int fd) {
    set_timeouts(fd);
    char buf[kMaxHeadBytes];
    size_t len = 0;
    proto::HttpRequest request;
    for (;;) {
        ssize_t n = recv(fd, buf + len, sizeof(buf) - len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // closed, or silent past the timeout
        size_t scanned = len;
        len += static_cast<size_t>(n);
        auto r = proto::parse_http_request(buf, len, scanned, request);
        if (r.status == proto::ParseStatus::complete) break;
        if (r.status == proto::ParseStatus::error) {
            answer(fd,
                   {r.http_status, "text/plain; charset=utf-8", std::string(r.reason) + "\n", {}},
                   false);
            return;
        }
        if (len == sizeof(buf)) {
            answer(fd, {431, "text/plain; charset=utf-8", "request head too large\n", {}}, false);
            return;
        }
    }
    bool head = request.method == "HEAD";
    if (request.method != "GET" && request.method != "POST" && !head) {
        answer(fd, {405, "text/plain; charset=utf-8", "method not allowed\n"}, false,
               "GET, HEAD, POST");
        return;
    }
    std::string_view path = request.target.substr(0, request.target.find('?'));
    AdminResponse response = handler_(head ? std::string_view("GET") : request.method, path);
    answer(fd, response, head, response.allow);
}

}  // namespace wsgate::gateway
