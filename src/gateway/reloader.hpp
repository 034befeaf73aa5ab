// Reloading the configuration of a running process (SIGHUP, POST
// /admin/reload): re-reads the --config file with the original flags over
// it, checks it, plans what changes (gateway/reload_policy.hpp), lets every
// registered hook prepare its part, builds the next settings snapshot and
// publishes it to every loop. A bad file, or a hook that cannot prepare,
// changes nothing; the outcome says why in one line.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config.hpp"
#include "gateway/settings_snapshot.hpp"

namespace wsgate::gateway {

// A subsystem with state of its own that a reload may change (TLS
// certificates, proxy routes and pools, JWT keys). Two phases, so that a
// reload is all or nothing: prepare() every hook, then commit() them all,
// or abort() the prepared ones when one fails. Called under the reloader's
// lock (never two reloads at once), from the thread that asked for the
// reload (the main thread on SIGHUP, the admin thread on POST).
class ReloadHook {
  public:
    virtual ~ReloadHook() = default;
    // Names the hook in messages ("tls certificates").
    virtual std::string_view name() const = 0;
    // Reads and checks what `next` asks for and readies it without touching
    // what is in use; adds a line per change to *changed. "" or an error
    // (one line: what and where, e.g. "cert.pem: no certificate").
    virtual std::string prepare(const Config& running, const Config& next,
                                std::vector<std::string>* changed) = 0;
    // Puts what prepare() readied for the loops into the snapshot about to
    // be posted (the proxy's table); most hooks have nothing to add.
    virtual void fill(SettingsSnapshot&) {}
    // Switches to what prepare() readied; cannot fail. Called after the new
    // snapshot was posted to every loop.
    virtual void commit() = 0;
    // Drops what prepare() readied (another hook failed).
    virtual void abort() = 0;
};

struct ReloadOutcome {
    bool ok = false;
    bool refused = false;              // shutting down: nothing was read
    std::string error;                 // !ok: one line, file:line:col when the file is wrong
    uint64_t generation = 0;           // ok: the new snapshot's
    std::vector<std::string> applied;  // live changes (keys, hook lines)
    std::vector<std::string> restart;  // "key: why" for changes left for a restart
};

// The outcome as one log line, and as the JSON body of POST /admin/reload:
// {"ok":true,"generation":2,"applied":[...],"restart_needed":[...]} or
// {"ok":false,"error":"..."}.
std::string reload_log_line(const ReloadOutcome& outcome);
std::string reload_json(const ReloadOutcome& outcome);

class Reloader {
  public:
    // Hands a new snapshot to every loop (posts it to each inbox).
    using Publish = std::function<void(const std::shared_ptr<const SettingsSnapshot>&)>;

    // args: the command line as started (argv[0] included); started: the
    // start-up snapshot (generation 1), built with `context`.
    Reloader(std::vector<std::string> args, std::shared_ptr<const SettingsSnapshot> started,
             SnapshotContext context, Publish publish);

    // Registers a hook (kept by pointer: it must outlive the reloader or
    // be removed). Any thread.
    void add_hook(ReloadHook* hook);
    void remove_hook(ReloadHook* hook);

    // One reload, start to end; logs one line. Any thread; serialized.
    ReloadOutcome reload();

    // Whether reload() reports RELOADING=1 / READY=1 to systemd
    // (gateway/sd_notify.hpp): only the process systemd watches does.
    void set_notify(bool notify) { notify_ = notify; }

    // No reload after this one returns (shutdown: the loops are about to
    // stop draining their inboxes).
    void close();

    std::shared_ptr<const SettingsSnapshot> current() const;

    // Reloads done and refused or failed since start
    // (wsgate_reloads_total{result="ok|failed"}). Any thread.
    uint64_t reloads_ok() const { return reloads_ok_.load(std::memory_order_relaxed); }
    uint64_t reloads_failed() const { return reloads_failed_.load(std::memory_order_relaxed); }

  private:
    std::vector<std::string> args_;
    Config started_;
    SnapshotContext context_;
    Publish publish_;
    mutable std::mutex mutex_;
    std::shared_ptr<const SettingsSnapshot> current_;  // under mutex_
    std::vector<ReloadHook*> hooks_;                   // under mutex_
    bool closed_ = false;                              // under mutex_
    bool notify_ = false;
    std::atomic<uint64_t> reloads_ok_{0};
    std::atomic<uint64_t> reloads_failed_{0};
};

}  // namespace wsgate::gateway
