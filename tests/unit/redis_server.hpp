// A redis-server the test starts itself on a free loopback port (no
// persistence), and kills by its PID: SIGKILL, SIGSTOP/SIGCONT and a
// restart on the same port are the faults the broker tests inject.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace wsgate::test {

inline bool redis_server_available() {
    return access("/usr/bin/redis-server", X_OK) == 0 ||
           access("/usr/local/bin/redis-server", X_OK) == 0;
}

// A loopback port nobody listens on right now.
inline uint16_t free_loopback_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
}

class RedisServer {
  public:
    explicit RedisServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
        port_ = free_loopback_port();
    }
    ~RedisServer() { kill_now(); }

    uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }

    // Starts it and waits until it accepts connections (false after 5 s).
    bool start() {
        std::vector<std::string> args = {
            "redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no",     "--loglevel",          "warning"};
        args.insert(args.end(), extra_.begin(), extra_.end());
        pid_ = fork();
        if (pid_ == 0) {
            std::vector<char*> argv;
            for (std::string& s : args)
                argv.push_back(s.data());
            argv.push_back(nullptr);
            int null = ::open("/dev/null", 1);
            dup2(null, 1);
            execvp("redis-server", argv.data());
            _exit(127);
        }
        for (int i = 0; i < 500; ++i) {
            if (accepts()) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }
    void kill_now() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);  // a stopped process dies too, without running first
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    void freeze() { ::kill(pid_, SIGSTOP); }
    void thaw() { ::kill(pid_, SIGCONT); }

  private:
    bool accepts() const {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port_);
        bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
        close(fd);
        return ok;
    }

    std::vector<std::string> extra_;
    uint16_t port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace wsgate::test
