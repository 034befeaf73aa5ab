#include "gateway/worker_supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "gateway/sd_notify.hpp"
#include "io/log.hpp"

namespace wsgate::gateway {

namespace {

struct Worker {
    pid_t pid = -1;     // -1: not running
    int ready_fd = -1;  // read end of the start-up pipe until the worker said it serves
};

int64_t monotonic_ms() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return int64_t{t.tv_sec} * 1000 + t.tv_nsec / 1000000;
}

void log_worker_exit(unsigned w, pid_t pid, int status) {
    if (WIFSIGNALED(status)) {
        io::log(io::LogLevel::error, "", io::kNoConn, {},
                "worker %d killed by signal %d (%s) (worker %u)", static_cast<int>(pid),
                WTERMSIG(status), strsignal(WTERMSIG(status)), w);
    } else {
        io::log(io::LogLevel::error, "", io::kNoConn, {},
                "worker %d exited with status %d (worker %u)", static_cast<int>(pid),
                WEXITSTATUS(status), w);
    }
}

class Supervisor {
  public:
    Supervisor(unsigned workers, RestartBudget budget, const RunWorker& run_worker)
        : workers_(workers), budget_(budget), run_worker_(run_worker), parent_(getpid()) {}

    int run(const sigset_t& stop_signals, const std::function<void()>& on_ready,
            const std::function<void()>& on_sighup) {
        on_sighup_ = on_sighup;
        // SIGCHLD is blocked before the first fork so no death goes unnoticed.
        sigset_t signals = stop_signals;
        sigaddset(&signals, SIGCHLD);
        pthread_sigmask(SIG_BLOCK, &signals, nullptr);
        signal_fd_ = signalfd(-1, &signals, SFD_CLOEXEC);
        if (signal_fd_ < 0) {
            std::perror("wsgate: signalfd");
            return 1;
        }
        bool started = true;
        for (unsigned w = 0; w < workers_.size() && started; ++w)
            started = spawn(w);
        for (unsigned w = 0; w < workers_.size() && started; ++w)
            started = wait_ready(w);
        int result = 1;
        if (started) {
            on_ready();
            result = watch();
        }
        result = stop_all(result);
        close(signal_fd_);
        return result;
    }

  private:
    // Forks worker w. The child keeps only its own pipe end: the signalfd
    // and the other workers' start-up pipes belong to the parent.
    bool spawn(unsigned w) {
        int pipe_fds[2];
        if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
            std::perror("wsgate: pipe");
            return false;
        }
        pid_t pid = fork();
        if (pid < 0) {
            std::perror("wsgate: fork");
            close(pipe_fds[0]);
            close(pipe_fds[1]);
            return false;
        }
        if (pid == 0) {
            close(pipe_fds[0]);
            close(signal_fd_);
            for (Worker& other : workers_) {
                if (other.ready_fd >= 0) close(other.ready_fd);
            }
            // A parent killed with SIGKILL cannot stop its workers; this makes
            // the kernel do it (graceful: SIGTERM is what the worker waits for).
            // The death signal follows the forking thread: the parent forks
            // from its only thread. A parent that died before prctl() took
            // effect has already reparented us: check, or we would never stop.
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent_) std::_Exit(1);
            std::_Exit(run_worker_(w, pipe_fds[1]));
        }
        close(pipe_fds[1]);
        workers_[w].pid = pid;
        workers_[w].ready_fd = pipe_fds[0];
        return true;
    }

    // First start-up: blocks until worker w says it serves, or died trying.
    bool wait_ready(unsigned w) {
        char byte = 0;
        ssize_t n;
        do {
            n = read(workers_[w].ready_fd, &byte, 1);
        } while (n < 0 && errno == EINTR);
        close(workers_[w].ready_fd);
        workers_[w].ready_fd = -1;
        return n == 1;
    }

    // Until a stop signal (returns 0) or a crash loop (returns 1).
    int watch() {
        for (;;) {
            std::vector<pollfd> fds{{signal_fd_, POLLIN, 0}};
            std::vector<unsigned> which{0};
            for (unsigned w = 0; w < workers_.size(); ++w) {
                if (workers_[w].ready_fd < 0) continue;
                fds.push_back({workers_[w].ready_fd, POLLIN, 0});
                which.push_back(w);
            }
            if (poll(fds.data(), fds.size(), -1) < 0) {
                if (errno == EINTR) continue;
                std::perror("wsgate: poll");
                return 1;
            }
            for (size_t i = 1; i < fds.size(); ++i) {
                if (fds[i].revents != 0) note_restarted(which[i]);
            }
            if (fds[0].revents == 0) continue;
            signalfd_siginfo info{};
            if (read(signal_fd_, &info, sizeof(info)) != sizeof(info)) continue;
            if (info.ssi_signo == SIGHUP) {
                // Each worker reloads the same file with the same flags itself.
                io::log(io::LogLevel::info, "", io::kNoConn, {}, "SIGHUP, passed to every worker");
                notify_reloading();
                if (on_sighup_) on_sighup_();
                forward(SIGHUP);
                // The workers' outcomes are in their own log lines.
                notify_ready();
                continue;
            }
            if (info.ssi_signo != SIGCHLD) {
                notify_stopping();
                io::log(io::LogLevel::info, "", io::kNoConn, {}, "%s, shutting down",
                        info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
                return 0;
            }
            if (!reap_and_restart()) return 1;
        }
    }

    // A restarted worker's start-up pipe became readable: one byte once it
    // serves, end of file if it died first (its SIGCHLD is handled then).
    void note_restarted(unsigned w) {
        Worker& worker = workers_[w];
        char byte = 0;
        if (read(worker.ready_fd, &byte, 1) == 1) {
            io::log(io::LogLevel::info, "", io::kNoConn, {}, "worker %d serves again (worker %u)",
                    static_cast<int>(worker.pid), w);
        }
        close(worker.ready_fd);
        worker.ready_fd = -1;
    }

    // SIGCHLD: several deaths may share one signal, so reap until none is
    // left. Returns false when the restart budget is spent.
    bool reap_and_restart() {
        for (;;) {
            int status = 0;
            pid_t pid = waitpid(-1, &status, WNOHANG);
            if (pid <= 0) return true;
            unsigned w = 0;
            while (w < workers_.size() && workers_[w].pid != pid)
                ++w;
            if (w == workers_.size()) continue;
            log_worker_exit(w, pid, status);
            workers_[w].pid = -1;
            if (workers_[w].ready_fd >= 0) {
                close(workers_[w].ready_fd);
                workers_[w].ready_fd = -1;
            }
            if (!budget_.allow(monotonic_ms())) {
                io::log(
                    io::LogLevel::info, "", io::kNoConn, {},
                    "crash loop: more than %u worker restarts within %lld s, stopping every worker",
                    budget_.max_restarts(), static_cast<long long>(budget_.window_ms() / 1000));
                return false;
            }
            io::log(io::LogLevel::info, "", io::kNoConn, {}, "restarting worker %u", w);
            if (!spawn(w)) return false;
        }
    }

    void forward(int sig) {
        for (Worker& worker : workers_) {
            if (worker.pid > 0) kill(worker.pid, sig);
        }
    }

    // SIGTERM to every running worker, then waits for each. A graceful stop
    // (result 0) stays 0 only if every worker exits 0.
    int stop_all(int result) {
        for (Worker& worker : workers_) {
            if (worker.pid > 0) kill(worker.pid, SIGTERM);
        }
        for (Worker& worker : workers_) {
            if (worker.ready_fd >= 0) close(worker.ready_fd);
            worker.ready_fd = -1;
            if (worker.pid <= 0) continue;
            int status = 0;
            while (waitpid(worker.pid, &status, 0) < 0 && errno == EINTR) {
            }
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) result = 1;
            worker.pid = -1;
        }
        return result;
    }

    std::vector<Worker> workers_;
    RestartBudget budget_;
    const RunWorker& run_worker_;
    pid_t parent_;
    int signal_fd_ = -1;
    std::function<void()> on_sighup_;
};

}  // namespace

int supervise_workers(unsigned workers, RestartBudget budget, const sigset_t& stop_signals,
                      const RunWorker& run_worker, const std::function<void()>& on_ready,
                      const std::function<void()>& on_sighup) {
    Supervisor supervisor(workers, budget, run_worker);
    return supervisor.run(stop_signals, on_ready, on_sighup);
}

}  // namespace wsgate::gateway
