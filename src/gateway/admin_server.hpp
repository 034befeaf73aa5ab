// The admin listener (--admin-listen): GET /metrics, /healthz and /readyz
// for operators and their monitoring, and POST /admin/... actions (reload, upgrade),
// apart from client traffic.
//
// Served by one thread of its own with blocking I/O, one connection at a
// time (each answered and closed: `Connection: close`), never by an event
// loop: a scrape then costs the loops nothing but the relaxed loads of their
// counters, the admin port keeps answering while the loops are saturated or
// draining, and nothing of the reactor changes for it. A client gets
// kIoTimeoutMs to send its request head and to take the answer, so a stuck
// one delays the next scrape by at most that.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <thread>

namespace wsgate::gateway {

struct AdminResponse {
    int status = 200;
    std::string_view content_type = "text/plain; charset=utf-8";
    std::string body;
    // A 405's Allow header (RFC 9110 §15.5.6): the methods the path takes.
    std::string_view allow{};
};

// Answers a request: its method (GET, HEAD or POST; HEAD is answered as GET
// without the body) and path (without its query string). A request body,
// if any, is not read: the admin actions take none.
using AdminHandler = std::function<AdminResponse(std::string_view method, std::string_view path)>;

class AdminServer {
  public:
    static constexpr int kIoTimeoutMs = 2000;

    AdminServer() = default;
    ~AdminServer() { stop(); }
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    // Takes ownership of a listening socket and serves it until stop().
    // Returns 0 or -errno.
    int start(int listen_fd, AdminHandler handler);
    // Wakes the thread, joins it and closes the socket (idempotent).
    void stop();

  private:
    void run();
    void serve_one(int fd);

    int listen_fd_ = -1;
    int wake_fd_ = -1;  // eventfd: stop() writes it
    AdminHandler handler_;
    std::thread thread_;
};

}  // namespace wsgate::gateway
