// wsload: a WebSocket load generator on io_uring. The parent process only
// orchestrates: it forks workers (as many as the per-process fd limit requires),
// advances the run's phases in shared memory, prints one progress line a second,
// and sums the workers' counters into the report. Every loop is bounded by time.

#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

#include "client_loop.hpp"
#include "options.hpp"
#include "pubsub_loop.hpp"
#include "report.hpp"
#include "server_probe.hpp"
#include "shared_stats.hpp"

using namespace wsgate::bench;

namespace {

constexpr rlim_t kFdReserve = 64;  // per worker: ring, stdio, the odd file
constexpr std::uint32_t kPerSourceTarget =
    5000;  // connect() slows as a source address's ~28k ports fill
constexpr auto kPollInterval = std::chrono::milliseconds(100);
constexpr std::uint64_t kGiveUpErrors = 100;  // bring-up failures tolerated (or 1 % of N)
constexpr double kExitGraceS = 10.0;          // after kStop, workers get this long before SIGKILL

volatile sig_atomic_t g_interrupted = 0;
void on_signal(int) {
    g_interrupted = 1;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

double seconds(const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6;
}

// Raises the soft fd limit to the hard one; returns the limit now in force.
rlim_t raise_fd_limit() {
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    getrlimit(RLIMIT_NOFILE, &lim);
    return lim.rlim_cur;
}

struct Shared {
    SharedControl* control = nullptr;
    WorkerStats* workers = nullptr;
    PubsubShared pubsub;
    std::size_t bytes = 0;
};

// `published` + `delivered`: pubsub's counters (PubsubShared) after the stats.
Shared map_shared(std::uint32_t workers, std::size_t published, std::size_t delivered) {
    Shared s;
    s.bytes = sizeof(SharedControl) + sizeof(WorkerStats) * workers +
              sizeof(std::atomic<std::uint64_t>) * (published + delivered);
    void* mem = mmap(nullptr, s.bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return s;
    s.control = new (mem) SharedControl{};
    s.workers = reinterpret_cast<WorkerStats*>(static_cast<char*>(mem) + sizeof(SharedControl));
    for (std::uint32_t w = 0; w < workers; ++w)
        new (&s.workers[w]) WorkerStats{};
    s.pubsub.published = reinterpret_cast<std::atomic<std::uint64_t>*>(
        static_cast<char*>(mem) + sizeof(SharedControl) + sizeof(WorkerStats) * workers);
    s.pubsub.delivered = s.pubsub.published + published;
    for (std::size_t k = 0; k < published + delivered; ++k)
        new (&s.pubsub.published[k]) std::atomic<std::uint64_t>{0};
    return s;
}

struct Totals {
    std::uint64_t up = 0, bringup_finished = 0, messages_all = 0, handshakes = 0, errors = 0;
    std::uint32_t exited = 0;
};
Totals sum(const Shared& sh, std::uint32_t workers) {
    Totals t;
    for (std::uint32_t w = 0; w < workers; ++w) {
        const WorkerStats& s = sh.workers[w];
        t.up += s.connections_up.load(std::memory_order_relaxed);
        t.bringup_finished += s.bringup_finished.load(std::memory_order_relaxed);
        t.messages_all += s.messages_all.load(std::memory_order_relaxed);
        t.handshakes += s.handshakes.load(std::memory_order_relaxed);
        for (const auto& e : s.errors)
            t.errors += e.load(std::memory_order_relaxed);
        t.exited += static_cast<std::uint32_t>(s.exited.load(std::memory_order_acquire));
    }
    return t;
}

const char* phase_name(Phase p) {
    switch (p) {
        case Phase::kBringUp:
            return "bring-up";
        case Phase::kWarmup:
            return "warm-up";
        case Phase::kMeasure:
            return "measure";
        case Phase::kStop:
            return "closing";
    }
    return "?";
}

}  // namespace

int main(int argc, char** argv) {
    const auto parsed = parse_options(argc, argv);
    if (!parsed) return 2;
    Options o = *parsed;
    if (o.mode == Mode::kRaw && o.payload_bytes == 0) {
        std::fprintf(stderr, "wsload: raw mode needs --payload >= 1\n");
        return 2;
    }
    if (o.mode == Mode::kIdle) {
        o.warmup_s = 0;   // idle holds; nothing to warm up
        o.in_flight = 1;  // --idle-message: one message per connection
    }
    const bool pubsub = o.mode == Mode::kPubsub;
    if (pubsub && o.publishers > 0 && o.publish_via == PublishVia::kHttpApi && o.api_key.empty()) {
        std::fprintf(stderr, "wsload: --publish-via http needs --api-key\n");
        return 2;
    }
    // pubsub: the publishers' connections come first, then the subscribers'.
    const std::uint32_t connections = o.connections + (pubsub ? o.publishers : 0);
    const double exit_grace_s = pubsub ? pubsub_stop_budget_s(o) + 2.0 : kExitGraceS;
    // HTTP publishers connect when publishing starts, not during bring-up.
    const std::uint32_t deferred =
        pubsub && o.publish_via == PublishVia::kHttpApi ? o.publishers : 0;

    const rlim_t fd_limit = raise_fd_limit();
    if (fd_limit <= kFdReserve * 2) {
        std::fprintf(stderr, "wsload: fd limit %llu too low\n",
                     static_cast<unsigned long long>(fd_limit));
        return 1;
    }
    const auto per_worker_max = static_cast<std::uint32_t>(fd_limit - kFdReserve);
    std::uint32_t workers =
        o.workers ? o.workers : (connections + per_worker_max - 1) / per_worker_max;
    workers = std::min(workers, connections);
    const std::uint32_t share = (connections + workers - 1) / workers;
    if (share > per_worker_max) {
        std::fprintf(
            stderr,
            "wsload: %u connections per worker exceed the fd limit %llu; use more --workers\n",
            share, static_cast<unsigned long long>(fd_limit));
        return 2;
    }
    const std::uint32_t sources =
        o.sources
            ? o.sources
            : std::max<std::uint32_t>(1, (connections + kPerSourceTarget - 1) / kPerSourceTarget);

    Shared sh = map_shared(workers, pubsub ? std::size_t{o.publishers} * o.channels : 0,
                           pubsub ? std::size_t{o.stamp_publishers()} * workers : 0);
    sh.pubsub.publishers = o.publishers;
    sh.pubsub.channels = o.channels;
    sh.pubsub.workers = workers;
    if (sh.control == nullptr) {
        std::perror("wsload: mmap");
        return 1;
    }
    std::fflush(nullptr);
    std::vector<pid_t> pids;
    for (std::uint32_t w = 0; w < workers; ++w) {
        WorkerPlan plan;
        plan.worker = w;
        plan.first_index = w * share;
        plan.count = std::min(share, connections - std::min(connections, plan.first_index));
        plan.sources = sources;
        plan.concurrency = std::max<std::uint32_t>(1, o.connect_concurrency / workers);
        const pid_t pid = fork();
        if (pid < 0) {
            std::perror("wsload: fork");
            sh.control->phase.store(static_cast<int>(Phase::kStop));
            break;
        }
        if (pid == 0) {
            signal(SIGINT, SIG_IGN);  // the parent decides when to stop
            signal(SIGTERM, SIG_IGN);
            _exit(pubsub ? run_pubsub_worker(o, plan, *sh.control, sh.workers[w], sh.pubsub)
                         : run_worker(o, plan, *sh.control, sh.workers[w]));
        }
        pids.push_back(pid);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    const bool tty = isatty(STDERR_FILENO);
    const auto start = std::chrono::steady_clock::now();
    auto phase_start = start;
    Phase phase = Phase::kBringUp;
    if (o.mode == Mode::kConnect) {  // connect mode opens connections as its load
        phase = Phase::kWarmup;
        sh.control->phase.store(static_cast<int>(phase), std::memory_order_release);
    }
    Summary summary;
    summary.server_before = sample_server(o.server_pid);
    summary.workers = static_cast<std::uint32_t>(pids.size());
    summary.sources = sources;
    double next_progress = 1.0;
    std::uint64_t last_messages = 0;
    HistogramSnapshot last_latency;
    auto set_phase = [&](Phase p) {
        phase = p;
        phase_start = std::chrono::steady_clock::now();
        sh.control->phase.store(static_cast<int>(p), std::memory_order_release);
    };

    while (true) {
        std::this_thread::sleep_for(kPollInterval);
        const Totals t = sum(sh, static_cast<std::uint32_t>(pids.size()));
        const double in_phase = seconds_since(phase_start);
        if (t.exited == pids.size()) break;
        if (g_interrupted && phase != Phase::kStop) {
            summary.window_s = phase == Phase::kMeasure ? in_phase : 0;
            summary.server_window_end = sample_server(o.server_pid);
            summary.up_at_end = t.up;
            set_phase(Phase::kStop);
        }
        switch (phase) {
            case Phase::kBringUp: {
                // Give up early when the server refuses in bulk (e.g. out of fds):
                // waiting for every handshake timeout would only stretch the run.
                const bool give_up =
                    t.errors > std::max<std::uint64_t>(kGiveUpErrors, connections / 100);
                if (give_up)
                    std::fprintf(stderr, "wsload: %llu connection failures; bring-up stopped\n",
                                 static_cast<unsigned long long>(t.errors));
                if (t.bringup_finished >= connections || in_phase >= o.connect_timeout_s ||
                    give_up) {
                    summary.bringup_s = in_phase;
                    summary.server_up = sample_server(o.server_pid);
                    std::fprintf(stderr, "wsload: %llu/%u connections up after %.2f s%s\n",
                                 static_cast<unsigned long long>(t.up), connections, in_phase,
                                 t.up < connections - deferred ? " (not all: see errors)" : "");
                    if (!o.ready_file.empty()) {
                        if (std::FILE* f = std::fopen(o.ready_file.c_str(), "w")) {
                            std::fprintf(f, "%llu\n", static_cast<unsigned long long>(t.up));
                            std::fclose(f);
                        }
                    }
                    if (o.warmup_s <= 0) summary.server_window_start = sample_server(o.server_pid);
                    set_phase(o.warmup_s > 0 ? Phase::kWarmup : Phase::kMeasure);
                }
                break;
            }
            case Phase::kWarmup:
                if (in_phase >= o.warmup_s) {
                    summary.server_window_start = sample_server(o.server_pid);
                    set_phase(Phase::kMeasure);
                }
                break;
            case Phase::kMeasure:
                if (in_phase >= o.duration_s) {
                    summary.server_window_end = sample_server(o.server_pid);
                    summary.window_s = in_phase;
                    summary.up_at_end = t.up;
                    set_phase(Phase::kStop);
                }
                break;
            case Phase::kStop:
                if (in_phase >= exit_grace_s) {
                    for (const pid_t pid : pids)
                        kill(pid, SIGKILL);
                    std::fprintf(stderr, "wsload: workers did not exit in time; killed\n");
                    goto done;
                }
                break;
        }
        if (o.progress && seconds_since(start) >= next_progress) {
            next_progress += 1.0;
            HistogramSnapshot now_latency;
            for (std::size_t w = 0; w < pids.size(); ++w)
                now_latency.add(sh.workers[w].latency_all);
            HistogramSnapshot delta = now_latency;
            for (std::size_t b = 0; b < Histogram::kBuckets; ++b)
                delta.counts[b] -= last_latency.counts[b];
            delta.total -= last_latency.total;
            last_latency = now_latency;
            const std::uint64_t rate =
                o.mode == Mode::kConnect ? delta.total : t.messages_all - last_messages;
            last_messages = t.messages_all;
            std::fprintf(stderr, "%s[%5.1fs %-8s] up %llu/%u  %s %llu  p99 %.3f ms  errors %llu%s",
                         tty ? "\r" : "", seconds_since(start), phase_name(phase),
                         static_cast<unsigned long long>(t.up), connections,
                         o.mode == Mode::kConnect ? "hs/s"
                         : pubsub                 ? "deliveries/s"
                                                  : "msg/s",
                         static_cast<unsigned long long>(rate),
                         static_cast<double>(delta.percentile(0.99)) / 1e6,
                         static_cast<unsigned long long>(t.errors), tty ? "   " : "\n");
        }
    }
done:
    if (tty && o.progress) std::fputc('\n', stderr);
    for (const pid_t pid : pids)
        waitpid(pid, nullptr, 0);

    for (std::size_t w = 0; w < pids.size(); ++w)
        add_worker(summary, sh.workers[w]);
    rusage self{}, children{};
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    summary.cpu_user_s = seconds(self.ru_utime) + seconds(children.ru_utime);
    summary.cpu_sys_s = seconds(self.ru_stime) + seconds(children.ru_stime);
    print_summary(o, summary);
    if (!o.json_path.empty() && !write_json(o, summary, o.json_path)) return 1;
    return 0;
}
