// Live upgrade (SIGUSR2, POST /admin/upgrade): the running process starts
// the binary now installed at its own path, with its own arguments and one
// end of a handover socket (WSGATE_HANDOVER_FD), hands it the listening
// sockets, and once the new process accepts on them (the same sockets: no
// connection is refused in between), every open WebSocket connection; then
// exits 0. If the new process fails to start or to take over, the old one
// carries on serving. The protocol: gateway/handover_wire.hpp and
// docs/live-upgrade.md.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "gateway/handover_wire.hpp"
#include "ws/connection_export.hpp"
#include "ws/loop_message.hpp"

namespace wsgate::gateway {

// The old process's side.
class UpgradeLauncher {
  public:
    UpgradeLauncher() = default;
    ~UpgradeLauncher();
    UpgradeLauncher(const UpgradeLauncher&) = delete;
    UpgradeLauncher& operator=(const UpgradeLauncher&) = delete;

    // How this process was started: its arguments and the path of its
    // executable (resolved now; the file at that path is what starts).
    static void remember(int argc, char** argv);

    // Starts the new process and hands it `listeners` (per loop, per
    // address) and admin_fd (-1: none). True once it accepts on them;
    // false after logging why (it is gone then; this process goes on).
    bool start(const std::vector<std::vector<int>>& listeners, int admin_fd, int64_t timeout_ms);

    // What the loops send connections through (valid after start).
    ws::HandoverChannel& channel() { return channel_; }
    pid_t child() const { return child_; }

    // Every loop has finished handing over: tells the new process how many
    // connections it was sent and waits (at most timeout_ms) for its count.
    void finish(int64_t elapsed_ms, int64_t timeout_ms);

  private:
    void fail(const std::string& why);
    static bool send_batch(void* self, std::span<const ws::ExportedConnection> records,
                           std::span<const uint8_t> app_bytes, std::span<const int> fds);
    static bool send_state(void* self, uint32_t loop, std::span<const uint8_t> bytes);

    int sock_ = -1;
    pid_t child_ = -1;
    ws::HandoverChannel channel_;
    std::vector<uint8_t> body_;  // a connections record being sent (one sender at a time)
};

// The new process's side.
class UpgradeReceiver {
  public:
    UpgradeReceiver() = default;
    ~UpgradeReceiver() { stop(); }
    UpgradeReceiver(const UpgradeReceiver&) = delete;
    UpgradeReceiver& operator=(const UpgradeReceiver&) = delete;

    // The handover socket this process was started with, or -1 (a plain
    // start). Taken from the environment once, so a later upgrade's
    // process does not inherit it.
    static int inherited_socket();

    // Says hello and takes the listening sockets: listeners[loop][address]
    // for `threads` loops and `addresses` --listen addresses (the layout
    // must be the old process's), and the admin socket (-1: none sent).
    // 0, or the exit status after logging why (the old one goes on).
    int take_listeners(int sock, unsigned threads, size_t addresses,
                       std::vector<std::vector<int>>* listeners, int* admin_fd);

    // Tells the old process this one accepts, then takes its connections
    // on a thread of its own, spreading them over the loops' inboxes.
    void start_receiving(std::vector<ws::LoopInbox*> inboxes);
    // Still taking connections (a second upgrade must wait).
    bool active() const { return active_.load(); }
    // Stops taking (at shutdown) and joins the thread.
    void stop();

  private:
    void receive_all();
    // Spreads one connections record over the loops; the count taken.
    uint64_t spread(handover::Record& r);
    // Gathers a loop_state record's piece; the whole state goes to its loop.
    void take_state_piece(const handover::Record& r);
    // Every loop that got no state from the old process gets an empty one
    // (its application stops waiting for it).
    void post_missing_states();
    void post_state(size_t loop, ws::LoopStateBatch* batch);
    bool post_batch(size_t loop, ws::AdoptBatch* batch);

    int sock_ = -1;
    size_t next_loop_ = 0;
    std::vector<std::vector<uint8_t>> states_;  // by loop: pieces gathered so far
    std::vector<bool> state_posted_;            // by loop
    std::vector<ws::LoopInbox*> inboxes_;
    std::atomic<uint64_t> adopted_{0};
    std::atomic<bool> active_{false};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace wsgate::gateway
