#include "gateway/live_upgrade.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "gateway/handover_wire.hpp"
#include "io/log.hpp"

extern char** environ;

namespace wsgate::gateway {
namespace {

constexpr const char* kHandoverEnv = "WSGATE_HANDOVER_FD";

std::vector<std::string>& saved_args() {
    static std::vector<std::string> args;
    return args;
}
std::string& saved_exe() {
    static std::string exe;
    return exe;
}

int64_t monotonic_ms() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return int64_t{t.tv_sec} * 1000 + t.tv_nsec / 1000000;
}

// Waits for one record of `kind` from the new process, watching it: false
// (with *why set) when it exits, refuses, closes the socket or is late.
bool expect(int sock, pid_t child, handover::Kind kind, int64_t timeout_ms, handover::Record* r,
            std::string* why) {
    const int64_t deadline = monotonic_ms() + timeout_ms;
    for (;;) {
        int status = 0;
        if (waitpid(child, &status, WNOHANG) == child) {
            if (WIFEXITED(status)) {
                *why = "the new process exited with status " + std::to_string(WEXITSTATUS(status));
            } else {
                *why = "the new process was killed by signal " + std::to_string(WTERMSIG(status));
            }
            return false;
        }
        int64_t left = deadline - monotonic_ms();
        if (left <= 0) {
            *why = "no answer from the new process within the upgrade timeout";
            return false;
        }
        int rc = handover::receive_record(sock, static_cast<int>(std::min<int64_t>(left, 100)), r);
        if (rc == -ETIMEDOUT) continue;
        if (rc == -EPIPE) {
            // Closed: it is exiting; its status says why (next round).
            usleep(20 * 1000);
            if (waitpid(child, &status, WNOHANG) == child) {
                *why = WIFEXITED(status) ? "the new process exited with status " +
                                               std::to_string(WEXITSTATUS(status))
                                         : "the new process was killed by signal " +
                                               std::to_string(WTERMSIG(status));
            } else {
                *why = "the new process closed the handover socket";
            }
            return false;
        }
        if (rc != 0) {
            *why = std::string("handover socket: ") + std::strerror(-rc);
            return false;
        }
        if (r->header.kind == static_cast<uint16_t>(kind)) return true;
        handover::close_fds(*r);
        if (r->header.kind == static_cast<uint16_t>(handover::Kind::refused)) {
            *why = "the new process refused: " +
                   std::string(reinterpret_cast<const char*>(r->body.data()), r->body.size());
        } else {
            *why = "unexpected record " + std::to_string(r->header.kind) + " from the new process";
        }
        return false;
    }
}

}  // namespace

// ---- the old process ----

void UpgradeLauncher::remember(int argc, char** argv) {
    for (int i = 0; i < argc; ++i)
        saved_args().emplace_back(argv[i]);
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n > 0) {
        std::string exe(path, static_cast<size_t>(n));
        // Replaced or removed since it started: the path is what counts.
        constexpr std::string_view kDeleted = " (deleted)";
        if (exe.size() > kDeleted.size() && exe.ends_with(kDeleted)) {
            exe.resize(exe.size() - kDeleted.size());
        }
        saved_exe() = exe;
    }
}

UpgradeLauncher::~UpgradeLauncher() {
    if (sock_ >= 0) close(sock_);
}

void UpgradeLauncher::fail(const std::string& why) {
    io::log(io::LogLevel::error, "", io::kNoConn, {}, "upgrade failed, this process carries on: %s",
            why.c_str());
    if (child_ > 0) {
        // Ours, started just now: it must not accept on sockets it may hold.
        kill(child_, SIGKILL);
        waitpid(child_, nullptr, 0);
        child_ = -1;
    }
    if (sock_ >= 0) close(sock_);
    sock_ = -1;
}

bool UpgradeLauncher::start(const std::vector<std::vector<int>>& listeners, int admin_fd,
                            int64_t timeout_ms) {
    if (saved_exe().empty()) {
        fail("the path of this executable is unknown (/proc/self/exe)");
        return false;
    }
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        fail(std::string("socketpair: ") + std::strerror(errno));
        return false;
    }
    sock_ = pair[0];
    // The child's end, without close-on-exec (adddup2 onto itself clears
    // it, glibc >= 2.29), named by the environment.
    std::string env_entry = std::string(kHandoverEnv) + "=" + std::to_string(pair[1]);
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e) {
        if (std::strncmp(*e, kHandoverEnv, std::strlen(kHandoverEnv)) == 0) continue;
        envp.push_back(*e);
    }
    envp.push_back(env_entry.data());
    envp.push_back(nullptr);
    std::vector<char*> argv;
    for (std::string& a : saved_args())
        argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pair[1], pair[1]);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, saved_exe().c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(pair[1]);
    if (rc != 0) {
        fail("cannot start " + saved_exe() + ": " + std::strerror(rc));
        return false;
    }
    child_ = pid;
    io::log(io::LogLevel::info, "", io::kNoConn, {}, "upgrade: started %s as process %d",
            saved_exe().c_str(), static_cast<int>(pid));
    handover::Record r;
    std::string why;
    if (!expect(sock_, child_, handover::Kind::hello, timeout_ms, &r, &why)) {
        fail(why);
        return false;
    }
    // The listening sockets, in records of at most kMaxFdsPerRecord.
    std::vector<handover::ListenerEntry> entries;
    std::vector<int> fds;
    for (size_t loop = 0; loop < listeners.size(); ++loop) {
        for (size_t a = 0; a < listeners[loop].size(); ++a) {
            handover::ListenerEntry e;
            e.loop = static_cast<uint16_t>(loop);
            e.address = static_cast<uint16_t>(a);
            entries.push_back(e);
            fds.push_back(listeners[loop][a]);
        }
    }
    if (admin_fd >= 0) {
        handover::ListenerEntry e;
        e.admin = 1;
        entries.push_back(e);
        fds.push_back(admin_fd);
    }
    for (size_t at = 0; at < entries.size(); at += handover::kMaxFdsPerRecord) {
        size_t n = std::min(handover::kMaxFdsPerRecord, entries.size() - at);
        rc = handover::send_record(
            sock_, handover::Kind::listeners, static_cast<uint32_t>(entries.size()),
            {reinterpret_cast<const uint8_t*>(entries.data() + at),
             n * sizeof(handover::ListenerEntry)},
            static_cast<uint32_t>(n), std::span<const int>(fds.data() + at, n));
        if (rc != 0) {
            fail(std::string("sending the listeners: ") + std::strerror(-rc));
            return false;
        }
    }
    if (!expect(sock_, child_, handover::Kind::ready, timeout_ms, &r, &why)) {
        fail(why);
        return false;
    }
    io::log(io::LogLevel::info, "", io::kNoConn, {},
            "upgrade: process %d accepts on the listeners; handing over connections",
            static_cast<int>(child_));
    channel_.send_batch = &UpgradeLauncher::send_batch;
    channel_.send_state = &UpgradeLauncher::send_state;
    channel_.loops = static_cast<uint32_t>(listeners.size());
    channel_.context = this;
    channel_.timeout_ms = timeout_ms;
    // A new process that stops reading must not hold a loop for ever.
    timeval tv{static_cast<time_t>(timeout_ms / 1000),
               static_cast<suseconds_t>((timeout_ms % 1000) * 1000)};
    setsockopt(sock_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return true;
}

bool UpgradeLauncher::send_batch(void* self, std::span<const ws::ExportedConnection> records,
                                 std::span<const uint8_t> app_bytes, std::span<const int> fds) {
    auto* launcher = static_cast<UpgradeLauncher*>(self);
    std::vector<uint8_t>& body = launcher->body_;
    const auto* first = reinterpret_cast<const uint8_t*>(records.data());
    body.assign(first, first + records.size() * sizeof(ws::ExportedConnection));
    body.insert(body.end(), app_bytes.begin(), app_bytes.end());
    int rc = handover::send_record(launcher->sock_, handover::Kind::connections, 0, body,
                                   static_cast<uint32_t>(records.size()), fds);
    if (rc != 0) {
        io::log(io::LogLevel::info, "", io::kNoConn, {},
                "upgrade: handover socket: %s; closing the rest with 1001", std::strerror(-rc));
    }
    return rc == 0;
}

bool UpgradeLauncher::send_state(void* self, uint32_t loop, std::span<const uint8_t> bytes) {
    auto* launcher = static_cast<UpgradeLauncher*>(self);
    constexpr size_t kPiece = handover::kMaxRecordBytes - sizeof(handover::RecordHeader) -
                              sizeof(handover::LoopStatePiece);
    size_t at = 0;
    do {
        size_t n = std::min(kPiece, bytes.size() - at);
        handover::LoopStatePiece piece;
        piece.last = at + n == bytes.size() ? 1 : 0;
        std::vector<uint8_t>& body = launcher->body_;
        const auto* p = reinterpret_cast<const uint8_t*>(&piece);
        body.assign(p, p + sizeof(piece));
        body.insert(body.end(), bytes.begin() + static_cast<ptrdiff_t>(at),
                    bytes.begin() + static_cast<ptrdiff_t>(at + n));
        int rc = handover::send_record(launcher->sock_, handover::Kind::loop_state, loop, body,
                                       static_cast<uint32_t>(n), {});
        if (rc != 0) {
            io::log(io::LogLevel::info, "", io::kNoConn, {},
                    "upgrade: handover socket: %s (loop %u's state)", std::strerror(-rc), loop);
            return false;
        }
        at += n;
    } while (at < bytes.size());
    return true;
}

void UpgradeLauncher::finish(int64_t elapsed_ms, int64_t timeout_ms) {
    const uint64_t sent = channel_.handed_over.load();
    const uint64_t closed = channel_.closed.load();
    io::log(io::LogLevel::info, "", io::kNoConn, {},
            "upgrade: handed over %llu connections in %lld ms (%llu closed with 1001)",
            static_cast<unsigned long long>(sent), static_cast<long long>(elapsed_ms),
            static_cast<unsigned long long>(closed));
    if (channel_.broken.load()) return;
    int rc =
        handover::send_record(sock_, handover::Kind::done, static_cast<uint32_t>(sent), {}, 0, {});
    handover::Record r;
    std::string why;
    if (rc != 0) {
        why = std::string("handover socket: ") + std::strerror(-rc);
    } else if (expect(sock_, child_, handover::Kind::taken, timeout_ms, &r, &why)) {
        io::log(io::LogLevel::info, "", io::kNoConn, {},
                "upgrade: process %d took %u connections; exiting", static_cast<int>(child_),
                r.header.value);
        return;
    }
    io::log(io::LogLevel::info, "", io::kNoConn, {}, "upgrade: no count from process %d: %s",
            static_cast<int>(child_), why.c_str());
}

// ---- the new process ----

int UpgradeReceiver::inherited_socket() {
    const char* text = std::getenv(kHandoverEnv);
    if (text == nullptr) return -1;
    int fd = std::atoi(text);
    unsetenv(kHandoverEnv);
    return fd > 2 ? fd : -1;
}

int UpgradeReceiver::take_listeners(int sock, unsigned threads, size_t addresses,
                                    std::vector<std::vector<int>>* listeners, int* admin_fd) {
    sock_ = sock;
    *admin_fd = -1;
    auto refuse = [&](const std::string& why) {
        io::log(io::LogLevel::error, "", io::kNoConn, {}, "upgrade: cannot take over: %s",
                why.c_str());
        handover::send_text(sock_, handover::Kind::refused, why);
        for (auto& loop : *listeners) {
            for (int& fd : loop) {
                if (fd >= 0) close(fd);
                fd = -1;
            }
        }
        if (*admin_fd >= 0) close(*admin_fd);
        return 1;
    };
    listeners->assign(threads, std::vector<int>(addresses, -1));
    if (handover::send_record(sock_, handover::Kind::hello, static_cast<uint32_t>(getpid()), {}, 0,
                              {}) != 0) {
        io::log(io::LogLevel::info, "", io::kNoConn, {}, "upgrade: the handover socket is gone");
        return 1;
    }
    size_t taken = 0;
    size_t total = 1;
    bool mismatch = false;
    while (taken < total) {
        handover::Record r;
        int rc = handover::receive_record(sock_, 10000, &r);
        if (rc != 0) return refuse(std::string("handover socket: ") + std::strerror(-rc));
        if (r.header.kind != static_cast<uint16_t>(handover::Kind::listeners) ||
            r.fds.size() != r.header.count) {
            handover::close_fds(r);
            return refuse("expected the listening sockets");
        }
        total = r.header.value;
        auto entries = r.entries<handover::ListenerEntry>();
        for (size_t i = 0; i < r.fds.size(); ++i) {
            int fd = r.fds[i];
            const handover::ListenerEntry& e =
                i < entries.size() ? entries[i] : handover::ListenerEntry{};
            if (e.admin != 0 && *admin_fd < 0) {
                *admin_fd = fd;
            } else if (e.admin == 0 && e.loop < threads && e.address < addresses &&
                       (*listeners)[e.loop][e.address] < 0) {
                (*listeners)[e.loop][e.address] = fd;
            } else {
                close(fd);
                mismatch = true;
            }
        }
        taken += r.fds.size();
        if (r.fds.empty()) break;
    }
    for (const auto& loop : *listeners) {
        for (int fd : loop)
            mismatch = mismatch || fd < 0;
    }
    if (mismatch) {
        return refuse("the old process's listeners (" + std::to_string(total) +
                      " sockets) are not this configuration's " + std::to_string(threads) +
                      " threads x " + std::to_string(addresses) +
                      " addresses: change --threads or --listen with a restart");
    }
    return 0;
}

void UpgradeReceiver::start_receiving(std::vector<ws::LoopInbox*> inboxes) {
    if (sock_ < 0) return;
    inboxes_ = std::move(inboxes);
    states_.assign(inboxes_.size(), {});
    state_posted_.assign(inboxes_.size(), false);
    if (handover::send_record(sock_, handover::Kind::ready, static_cast<uint32_t>(getpid()), {}, 0,
                              {}) != 0) {
        io::log(io::LogLevel::info, "", io::kNoConn, {},
                "upgrade: the old process is gone before any connection");
        post_missing_states();
        close(sock_);
        sock_ = -1;
        return;
    }
    active_.store(true);
    thread_ = std::thread([this] { receive_all(); });
}

void UpgradeReceiver::stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    if (sock_ >= 0) close(sock_);
    sock_ = -1;
    active_.store(false);
}

bool UpgradeReceiver::post_batch(size_t loop, ws::AdoptBatch* batch) {
    ws::LoopMessage m;
    m.kind = ws::LoopMessageKind::adopt;
    m.pointer = batch;
    // A full inbox is being drained by its loop: wait for room.
    while (!inboxes_[loop]->post_and_signal(m)) {
        if (stop_.load()) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

uint64_t UpgradeReceiver::spread(handover::Record& r) {
    // The records, then their application bytes; per connection its socket
    // and its application's descriptors. A record that does not add up is
    // refused whole (its descriptors closed: those peers see the end).
    const size_t n = r.header.count;
    const size_t head = n * sizeof(ws::ExportedConnection);
    std::vector<ws::ExportedConnection> records(n);
    size_t app_total = 0;
    size_t fd_total = 0;
    if (head <= r.body.size()) {
        std::memcpy(records.data(), r.body.data(), head);
        for (const ws::ExportedConnection& e : records) {
            app_total += e.app_bytes;
            fd_total += 1 + size_t{e.app_fds};
        }
    }
    if (head > r.body.size() || head + app_total != r.body.size() || fd_total != r.fds.size()) {
        io::log(io::LogLevel::info, "", io::kNoConn, {},
                "upgrade: a connections record that does not add up (%zu records, %zu bytes, %zu "
                "descriptors); its connections are closed",
                n, r.body.size(), r.fds.size());
        handover::close_fds(r);
        return 0;
    }
    // Spread over the loops in turn, one batch per loop per record; a
    // joined pair (kJoinedWithNext) goes to one loop whole.
    const size_t loops = inboxes_.size();
    std::vector<ws::AdoptBatch*> batches(loops, nullptr);
    size_t at_bytes = head;
    size_t at_fds = 0;
    size_t loop = 0;
    bool joined = false;  // the previous record leads this one
    for (const ws::ExportedConnection& e : records) {
        if (!joined) loop = next_loop_++ % loops;
        joined = (e.flags & ws::ExportedConnection::kJoinedWithNext) != 0;
        if (batches[loop] == nullptr) {
            batches[loop] = new ws::AdoptBatch;
            batches[loop]->adopted = &adopted_;
        }
        ws::AdoptBatch& b = *batches[loop];
        b.records.push_back(e);
        b.app_bytes.insert(b.app_bytes.end(), r.body.begin() + static_cast<ptrdiff_t>(at_bytes),
                           r.body.begin() + static_cast<ptrdiff_t>(at_bytes + e.app_bytes));
        b.fds.insert(b.fds.end(), r.fds.begin() + static_cast<ptrdiff_t>(at_fds),
                     r.fds.begin() + static_cast<ptrdiff_t>(at_fds + 1 + e.app_fds));
        at_bytes += e.app_bytes;
        at_fds += 1 + size_t{e.app_fds};
    }
    r.fds.clear();
    for (size_t loop = 0; loop < loops; ++loop) {
        if (batches[loop] == nullptr) continue;
        if (!post_batch(loop, batches[loop])) {
            for (int fd : batches[loop]->fds)
                close(fd);
            delete batches[loop];
        }
    }
    return n;
}

void UpgradeReceiver::receive_all() {
    uint64_t received = 0;
    int64_t first_ms = 0;
    int64_t started_ms = monotonic_ms();
    while (!stop_.load()) {
        handover::Record r;
        int rc = handover::receive_record(sock_, 100, &r);
        if (rc == -ETIMEDOUT) continue;
        if (rc != 0) {
            io::log(io::LogLevel::info, "", io::kNoConn, {},
                    "upgrade: the old process left after %llu connections: %s",
                    static_cast<unsigned long long>(received), std::strerror(-rc));
            break;
        }
        auto kind = static_cast<handover::Kind>(r.header.kind);
        if (kind == handover::Kind::connections) {
            if (first_ms == 0) first_ms = monotonic_ms();
            received += spread(r);
            continue;
        }
        if (kind == handover::Kind::loop_state) {
            handover::close_fds(r);
            take_state_piece(r);
            continue;
        }
        handover::close_fds(r);
        if (kind == handover::Kind::done) {
            // Every batch posted; the loops take them within a turn or two.
            const int64_t deadline = monotonic_ms() + 5000;
            while (adopted_.load() < received && monotonic_ms() < deadline && !stop_.load())
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            uint64_t adopted = adopted_.load();
            int64_t now = monotonic_ms();
            io::log(io::LogLevel::info, "", io::kNoConn, {},
                    "upgrade: took %llu of %u connections in %lld ms (%lld ms since ready)",
                    static_cast<unsigned long long>(adopted), r.header.value,
                    static_cast<long long>(first_ms == 0 ? 0 : now - first_ms),
                    static_cast<long long>(now - started_ms));
            handover::send_record(sock_, handover::Kind::taken, static_cast<uint32_t>(adopted), {},
                                  0, {});
            break;
        }
        io::log(io::LogLevel::info, "", io::kNoConn, {}, "upgrade: unexpected record %u; stopping",
                unsigned{r.header.kind});
        break;
    }
    post_missing_states();
    close(sock_);
    sock_ = -1;
    active_.store(false);
}

void UpgradeReceiver::post_state(size_t loop, ws::LoopStateBatch* batch) {
    state_posted_[loop] = true;
    ws::LoopMessage m;
    m.kind = ws::LoopMessageKind::adopt_state;
    m.pointer = batch;
    while (!inboxes_[loop]->post_and_signal(m)) {
        if (stop_.load()) {
            delete batch;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

void UpgradeReceiver::take_state_piece(const handover::Record& r) {
    const size_t loop = r.header.value;
    if (loop >= inboxes_.size() || state_posted_[loop] ||
        r.body.size() != sizeof(handover::LoopStatePiece) + r.header.count) {
        io::log(io::LogLevel::info, "", io::kNoConn, {},
                "upgrade: a loop state record that does not fit (loop %zu)", loop);
        return;
    }
    handover::LoopStatePiece piece;
    std::memcpy(&piece, r.body.data(), sizeof(piece));
    states_[loop].insert(states_[loop].end(), r.body.begin() + sizeof(piece), r.body.end());
    if (piece.last == 0) return;
    auto* batch = new ws::LoopStateBatch;
    batch->bytes = std::move(states_[loop]);
    post_state(loop, batch);
}

void UpgradeReceiver::post_missing_states() {
    for (size_t loop = 0; loop < inboxes_.size(); ++loop) {
        if (!state_posted_[loop]) post_state(loop, new ws::LoopStateBatch);
    }
}

}  // namespace wsgate::gateway
