// wsgate: parses flags, opens the listeners, runs one event loop per thread
// and shuts down cleanly on SIGINT/SIGTERM.
#include <mimalloc-new-delete.h>  // mimalloc for new/delete (linked first for malloc)
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gateway/config.hpp"
#include "gateway/echo_app.hpp"
#include "io/backend_kind.hpp"
#include "io/epoll_backend.hpp"
#include "io/listener.hpp"
#include "io/uring_backend.hpp"
#include "ws/server_loop.hpp"

namespace wsgate::gateway {
namespace {

constexpr int kListenBacklog = 4096;

uint32_t to_ticks(double seconds) {
    double ticks = std::ceil(seconds * 1000.0 / ws::kTickMs);
    return ticks < 1 ? 1 : static_cast<uint32_t>(ticks);
}

ws::LoopSettings loop_settings(const Config& config) {
    ws::LoopSettings s;
    s.backend.recv_buffer_count = config.recv_buffers;
    s.backend.recv_buffer_size = config.recv_buffer_bytes;
    s.max_message_bytes = config.max_message_bytes;
    s.max_connections = config.max_connections;
    s.handshake_timeout_ticks = to_ticks(config.handshake_timeout_s);
    s.idle_timeout_ticks = to_ticks(config.idle_timeout_s);
    s.close_timeout_ticks = to_ticks(config.close_timeout_s);
    s.max_queued_bytes = config.max_queued_bytes;
    s.trace = config.trace;
    s.backend.direct_descriptors = config.direct_descriptors;
    s.backend.fixed_files = config.max_connections + ws::kRefusalSlots;
    return s;
}

// Startup handshake between a loop thread and main: 0 ok, else -errno.
struct ThreadStart {
    std::atomic<int> result{1};  // 1: still starting
};

template <template <class> class Backend>
void run_loop(const ws::LoopSettings& settings, ws::LoopShared& shared, std::vector<int> listeners,
              int wake_fd, ThreadStart& start) {
    EchoApp app;
    ws::ServerLoop<Backend, EchoApp> loop(settings, shared, app, wake_fd);
    int rc = loop.init(listeners);
    start.result.store(rc);
    start.result.notify_all();
    if (rc != 0) return;
    loop.run();
}

int run(int argc, char** argv) {
    Config config;
    std::string error = parse_config(argc, argv, &config);
    if (!error.empty()) {
        std::fprintf(stderr, "wsgate: %s\n", error.c_str());
        return 2;
    }
    if (config.help) {
        std::fputs(config_help().c_str(), stdout);
        return 0;
    }
    if (config.listen.empty()) config.listen.emplace_back(kDefaultListen);
    // Every connection is a descriptor (or, with --direct-descriptors, a
    // fixed-file slot, whose table size RLIMIT_NOFILE caps): use the hard limit.
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    unsigned threads = config.threads;
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());

    std::string message;
    io::BackendKind backend = io::choose_backend(config.backend, &message);
    if (!message.empty()) std::fprintf(stderr, "wsgate: %s\n", message.c_str());
    if (config.backend == io::BackendKind::io_uring && !message.empty()) return 1;

    // One SO_REUSEPORT socket per thread per address; port 0 resolves once.
    std::vector<std::vector<int>> listeners(threads);
    std::vector<std::string> names;
    for (const std::string& text : config.listen) {
        auto ep = io::parse_endpoint(text);
        if (!ep) {
            std::fprintf(stderr, "wsgate: bad --listen address %s\n", text.c_str());
            return 2;
        }
        for (unsigned t = 0; t < threads; ++t) {
            int fd = io::open_listener(*ep, kListenBacklog);
            if (fd < 0) {
                std::fprintf(stderr, "wsgate: cannot listen on %s: %s\n", text.c_str(),
                             std::strerror(-fd));
                return 1;
            }
            if (t == 0) *ep = io::local_endpoint(fd);
            listeners[t].push_back(fd);
        }
        names.push_back(io::format_endpoint(*ep));
    }

    // Signals are taken synchronously by main; loop threads never see them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    ws::LoopSettings settings = loop_settings(config);
    ws::LoopShared shared;
    std::vector<int> wake_fds;
    std::vector<ThreadStart> starts(threads);
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads; ++t) {
        int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        wake_fds.push_back(wake);
        if (backend == io::BackendKind::io_uring) {
            workers.emplace_back(run_loop<io::UringBackend>, std::cref(settings), std::ref(shared),
                                 listeners[t], wake, std::ref(starts[t]));
        } else {
            workers.emplace_back(run_loop<io::EpollBackend>, std::cref(settings), std::ref(shared),
                                 listeners[t], wake, std::ref(starts[t]));
        }
    }
    bool ok = true;
    for (ThreadStart& s : starts) {
        s.result.wait(1);
        if (s.result.load() != 0) {
            std::fprintf(stderr, "wsgate: event loop setup failed: %s\n",
                         std::strerror(-s.result.load()));
            ok = false;
        }
    }
    if (ok) {
        std::string backend_text(io::backend_name(backend));
        for (const std::string& name : names) {
            std::fprintf(stderr, "wsgate: listening on %s (%s, %u thread%s)\n", name.c_str(),
                         backend_text.c_str(), threads, threads == 1 ? "" : "s");
        }
        int sig = 0;
        sigwait(&signals, &sig);
        std::fprintf(stderr, "wsgate: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    shared.stopping.store(true);
    for (int fd : wake_fds) {
        uint64_t one = 1;
        if (write(fd, &one, sizeof(one)) < 0) {
            std::perror("wsgate: wake");
        }
    }
    for (std::thread& w : workers)
        w.join();
    for (int fd : wake_fds)
        close(fd);
    return ok ? 0 : 1;
}

}  // namespace
}  // namespace wsgate::gateway

int main(int argc, char** argv) {
    return wsgate::gateway::run(argc, argv);
}
