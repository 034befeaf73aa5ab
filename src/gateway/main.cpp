// wsgate: parses flags (and a --config file), opens the listeners, runs one event loop per thread
// and shuts down cleanly on SIGINT/SIGTERM.
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gateway/admin_server.hpp"
#include "gateway/allocator.hpp"
#include "gateway/config.hpp"
#include "gateway/deflate_budget.hpp"
#include "gateway/echo_app.hpp"
#include "gateway/edge_config.hpp"
#include "gateway/gateway_metrics.hpp"
#include "gateway/http_endpoints.hpp"
#include "gateway/live_reload_hooks.hpp"
#include "gateway/live_upgrade.hpp"
#include "gateway/reload_policy.hpp"
#include "gateway/reloader.hpp"
#include "gateway/sd_notify.hpp"
#include "gateway/settings_snapshot.hpp"
#include "gateway/worker_supervisor.hpp"
#include "io/backend_kind.hpp"
#include "io/epoll_backend.hpp"
#include "io/listener.hpp"
#include "io/uring_backend.hpp"
#include "proxy/proxy_app.hpp"
#include "pubsub/hub_app.hpp"
#include "pubsub/hub_shared.hpp"
#include "tls/ktls_probe.hpp"
#include "tls/tls_server_context.hpp"
#include "ws/server_loop.hpp"

namespace wsgate::gateway {
namespace {

constexpr int kListenBacklog = 4096;
constexpr int kAdminBacklog = 64;

// Startup handshake between a loop thread and main: 0 ok, else -errno.
struct ThreadStart {
    std::atomic<int> result{1};  // 1: still starting
};

// The loop's metrics are readable by the admin thread while the loop exists.
struct MetricsAttachment {
    MetricsAttachment(LoopMetricsRegistry& registry, size_t loop, const ws::LoopMetrics& metrics)
        : registry_(registry), loop_(loop) {
        registry_.attach(loop_, &metrics);
    }
    ~MetricsAttachment() { registry_.detach(loop_); }
    MetricsAttachment(const MetricsAttachment&) = delete;
    MetricsAttachment& operator=(const MetricsAttachment&) = delete;

  private:
    LoopMetricsRegistry& registry_;
    size_t loop_;
};

template <template <class> class Backend, class App>
void run_loop(App& app, const ws::LoopSettings& settings, ws::LoopShared& shared,
              std::vector<int> listeners, ws::LoopInbox& inbox, unsigned number, ThreadStart& start,
              LoopMetricsRegistry& registry) {
    ws::ServerLoop<Backend, App> loop(settings, shared, app, inbox, number);
    MetricsAttachment attached(registry, number, loop.metrics());
    int rc = loop.init(listeners);
    start.result.store(rc);
    start.result.notify_all();
    if (rc != 0) return;
    loop.run();
    if (settings.io_stats) {
        using Loop = ws::ServerLoop<Backend, App>;
        loop.io_counters().print(stderr, Backend<Loop>::kName, number);
    }
}

// A loop thread: the application is made on the thread that runs it.
template <template <class> class Backend>
void run_app_loop(pubsub::HubShared* hub, const proxy::ProxySettings* proxy,
                  const ws::LoopSettings& settings, ws::LoopShared& shared,
                  std::vector<int> listeners, ws::LoopInbox& inbox, unsigned number,
                  ThreadStart& start, LoopMetricsRegistry& registry) {
    if (proxy != nullptr) {
        proxy::ProxyApp app(*proxy, number);
        run_loop<Backend>(app, settings, shared, std::move(listeners), inbox, number, start,
                          registry);
    } else if (hub == nullptr) {
        EchoApp app;
        run_loop<Backend>(app, settings, shared, std::move(listeners), inbox, number, start,
                          registry);
    } else {
        pubsub::HubApp app(*hub, number, settings.max_message_bytes, settings.max_request_bytes);
        run_loop<Backend>(app, settings, shared, std::move(listeners), inbox, number, start,
                          registry);
    }
}

// The hub's shared part for --mode pubsub: settings, every loop's inbox, a
// random seed for client ids and epochs.
std::unique_ptr<pubsub::HubShared> make_hub(
    const SettingsSnapshot& snapshot, const std::vector<std::unique_ptr<ws::LoopInbox>>& inboxes) {
    const Config& config = snapshot.config;
    auto hub = std::make_unique<pubsub::HubShared>();
    hub->settings = snapshot.hub;
    for (const auto& inbox : inboxes)
        hub->inboxes.push_back(inbox.get());
    std::random_device random;
    hub->seed = (uint64_t{random()} << 32) | random();
    hub->start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    char uid[24];
    std::snprintf(uid, sizeof(uid), "%016llx", static_cast<unsigned long long>(hub->seed));
    hub->node_uid = uid;
    hub->pages = serve_pubsub_http;
    pubsub::TokenKeyFiles key_files{config.hub.token_rsa_public_key,
                                    config.hub.token_ecdsa_public_key, config.hub.token_jwks_file};
    if (key_files.any()) {
        hub->token_keys = std::make_unique<pubsub::TokenKeyStore>(key_files);
        size_t keys = 0;
        if (std::string e = hub->token_keys->reload(&keys); !e.empty()) {
            io::log(io::LogLevel::error, "", io::kNoConn, {}, "token keys: %s", e.c_str());
            return nullptr;
        }
        io::log(io::LogLevel::info, "", io::kNoConn, {}, "token keys: %zu public key%s", keys,
                keys == 1 ? "" : "s");
    }
    for (const std::string& r : config.redis) {
        broker::RedisLinkSettings link;
        link.endpoint = *io::parse_endpoint(r);  // checked by parse_config
        link.password = config.redis_password;
        link.db = config.redis_db;
        link.connect_timeout_ms =
            static_cast<uint32_t>(std::ceil(config.redis_connect_timeout_s * 1000.0));
        link.command_timeout_ms =
            static_cast<uint32_t>(std::ceil(config.redis_command_timeout_s * 1000.0));
        link.keepalive_ms = std::max<uint32_t>(link.command_timeout_ms / 2, 100);
        hub->redis_links.push_back(link);
    }
    // Each loop opens a command and a subscriber link per shard; the node is
    // unhealthy until every one of them is up.
    hub->redis_links_down = static_cast<int64_t>(inboxes.size() * hub->redis_links.size() * 2);
    return hub;
}

// Opens one SO_REUSEPORT socket per loop per address (slots loops in all);
// port 0 resolves on the first. Fills listeners[slot] and the printable
// names. Returns 0, or the exit status on failure.
int open_listeners(const Config& config, unsigned slots, std::vector<std::vector<int>>* listeners,
                   std::vector<std::string>* names) {
    listeners->assign(slots, {});
    for (const std::string& text : config.listen) {
        bool tls = false;
        auto ep = io::parse_endpoint(listen_address(text, &tls));
        if (!ep) {
            io::log(io::LogLevel::error, "", io::kNoConn, {}, "bad --listen address %s",
                    text.c_str());
            return 2;
        }
        for (unsigned t = 0; t < slots; ++t) {
            int fd = io::open_listener(*ep, kListenBacklog);
            if (fd < 0) {
                io::log(io::LogLevel::error, "", io::kNoConn, {}, "cannot listen on %s: %s",
                        text.c_str(), std::strerror(-fd));
                return 1;
            }
            if (t == 0) *ep = io::local_endpoint(fd);
            (*listeners)[t].push_back(fd);
        }
        names->push_back(io::format_endpoint(*ep));
    }
    return 0;
}

// What each TLS listener uses (tls::plan_kernel_tls, probed once).
void log_tls_listeners(const Config& config, const std::vector<std::string>& names,
                       const std::string& plan) {
    for (size_t i = 0; i < names.size() && i < config.listen.size(); ++i) {
        bool is_tls = false;
        listen_address(config.listen[i], &is_tls);
        if (!is_tls) continue;
        io::log(io::LogLevel::info, "", io::kNoConn, {}, "TLS on %s: %s", names[i].c_str(),
                plan.c_str());
    }
}

// The --admin-listen socket (port 0 resolves), or -1 after saying why.
int open_admin_listener(const std::string& text) {
    auto ep = io::parse_endpoint(text);
    if (!ep) {
        io::log(io::LogLevel::error, "", io::kNoConn, {}, "bad --admin-listen address %s",
                text.c_str());
        return -1;
    }
    // Without SO_REUSEPORT: a second wsgate on the same admin address must
    // fail, not share it (its scrapes would land on either process).
    int fd = io::open_listener(*ep, kAdminBacklog, false);
    if (fd < 0) {
        io::log(io::LogLevel::error, "", io::kNoConn, {}, "cannot listen on %s: %s", text.c_str(),
                std::strerror(-fd));
        return -1;
    }
    io::log(io::LogLevel::info, "", io::kNoConn, {},
            "admin listening on %s (GET /metrics /healthz /readyz)",
            io::format_endpoint(io::local_endpoint(fd)).c_str());
    return fd;
}

void print_listening(const std::vector<std::string>& names, io::BackendKind backend,
                     const Config& config, unsigned threads) {
    std::string backend_text(io::backend_name(backend));
    std::string workers;
    if (config.workers > 1) workers = std::to_string(config.workers) + " workers, ";
    for (size_t i = 0; i < names.size(); ++i) {
        bool tls = false;
        if (i < config.listen.size()) listen_address(config.listen[i], &tls);
        io::log(io::LogLevel::info, "", io::kNoConn, {}, "listening on %s (%s%s, %s%u thread%s)",
                names[i].c_str(), tls ? "TLS, " : "", backend_text.c_str(), workers.c_str(),
                threads, threads == 1 ? "" : "s");
    }
}

// The admin listener's answers: /readyz is 200 from the moment every loop
// is up until shutdown begins; POST /admin/reload reloads the configuration
// and answers what changed (200), or why nothing did (422 for a bad file or
// a hook that refused it, 503 while shutting down).
AdminHandler admin_handler(const LoopMetricsRegistry& registry, const pubsub::HubShared* hub,
                           const proxy::ProxySettings* proxy, const std::atomic<bool>& ready,
                           const std::vector<std::string>& listeners, Reloader& reloader) {
    return [&registry, hub, proxy, &ready, &listeners, &reloader](std::string_view method,
                                                                  std::string_view path) {
        AdminResponse r;
        if (path == "/admin/upgrade") {
            if (method != "POST") {
                r.status = 405;
                r.allow = "POST";
                r.body = "method not allowed\n";
            } else {
                // The main thread takes SIGUSR2 (sigwait) and logs the outcome.
                kill(getpid(), SIGUSR2);
                r.status = 202;
                r.body = "upgrade started\n";
            }
            return r;
        }
        if (path == "/admin/reload") {
            if (method != "POST") {
                r.status = 405;
                r.allow = "POST";
                r.body = "method not allowed\n";
                return r;
            }
            ReloadOutcome outcome = reloader.reload();
            r.status = outcome.ok ? 200 : outcome.refused ? 503 : 422;
            r.content_type = "application/json";
            r.body = reload_json(outcome);
            return r;
        }
        if (method == "POST") {
            r.status = 405;
            r.allow = "GET, HEAD";
            r.body = "method not allowed\n";
            return r;
        }
        if (path == "/metrics") {
            r.content_type = "text/plain; version=0.0.4; charset=utf-8";
            MetricsSources sources{&registry, hub, ready.load(), &listeners};
            std::shared_ptr<const proxy::ProxyTable> table;
            sources.reloads_ok = reloader.reloads_ok();
            sources.reloads_failed = reloader.reloads_failed();
            if (proxy != nullptr) {
                table = proxy->table.get();
                sources.proxy_routes = &table->routes;
                sources.proxy_live = &table->live;
            }
            r.body = render_metrics(sources);
        } else if (path == "/healthz" || path == "/readyz") {
            // A node whose Redis links are down cannot serve the channel
            // space: it says so (--redis-health-strict off: it keeps 200).
            int64_t down = hub == nullptr ? 0 : hub->redis_links_down.load();
            bool broker_ok = hub == nullptr || !hub->settings.redis_engine ||
                             !hub->settings.redis_health_strict || down <= 0;
            bool up = path == "/healthz" || ready.load();
            r.status = up && broker_ok ? 200 : 503;
            if (!broker_ok) {
                r.body = "redis unavailable: " + std::to_string(down) + " link(s) down\n";
            } else if (path == "/healthz") {
                r.body = "ok\n";
            } else {
                r.body = up ? "ready\n" : "not ready\n";
            }
        } else {
            r.status = 404;
            r.body = "not found\n";
        }
        return r;
    };
}

// On reload: the TLS certificate and key files (as the reloaded
// configuration names them) are read again; new handshakes use them, open
// connections keep theirs. The context swaps its certificate set whole and
// keeps the one in use when a file is bad, so the work is done in prepare
// (a bad file fails the whole reload).
class TlsCertificatesReload final : public ReloadHook {
  public:
    explicit TlsCertificatesReload(tls::TlsServerContext& tls) : tls_(tls) {}
    std::string_view name() const override { return "TLS certificates"; }
    std::string prepare(const Config&, const Config& next,
                        std::vector<std::string>* changed) override {
        std::string error;
        if (!tls_.reload(tls_settings(next), &error)) return error;
        changed->push_back("TLS certificates: " + tls_.describe());
        return {};
    }
    void commit() override {}
    void abort() override {}

  private:
    tls::TlsServerContext& tls_;
};

// On reload (pub/sub with token key files): the files are read again, the
// same way (the store swaps its key set whole, or keeps it on a bad file).
class TokenKeysReload final : public ReloadHook {
  public:
    explicit TokenKeysReload(pubsub::TokenKeyStore& store) : store_(store) {}
    std::string_view name() const override { return "token keys"; }
    std::string prepare(const Config&, const Config&, std::vector<std::string>* changed) override {
        size_t keys = 0;
        if (std::string e = store_.reload(&keys); !e.empty()) return e;
        changed->push_back("token keys: " + std::to_string(keys) + " public key" +
                           (keys == 1 ? "" : "s"));
        return {};
    }
    void commit() override {}
    void abort() override {}

  private:
    pubsub::TokenKeyStore& store_;
};

// Echo and pub/sub connections and proxy pairings move to the new process on
// a live upgrade (docs/live-upgrade.md says what moves and when); with
// --direct-descriptors they have no descriptor to pass.
bool movable_connections(const Config& config) {
    return !config.direct_descriptors;
}

// One process: a loop per thread until SIGINT/SIGTERM (blocked, taken here
// with sigwait). ready_fd >= 0 (a worker): one byte is written to it once
// every loop is up; otherwise the listening lines are printed. admin_fd >= 0:
// the --admin-listen socket, served until the loops are gone.
// SIGHUP (and POST /admin/reload) reloads the configuration: args is the
// command line, re-read each time.
int serve(const Config& config, const std::vector<std::string>& args, tls::TlsServerContext* tls,
          io::BackendKind backend, const std::vector<std::vector<int>>& listeners,
          const std::vector<std::string>& names, const sigset_t& signals, int ready_fd,
          int admin_fd = -1, UpgradeReceiver* inherited = nullptr) {
    unsigned threads = static_cast<unsigned>(listeners.size());
    const SnapshotContext context{threads, std::string("wsgate ") + WSGATE_VERSION,
                                  release_free_memory, tls};
    std::shared_ptr<SettingsSnapshot> snapshot = build_snapshot(config, context, 1);
    if (config.mode == Mode::proxy) snapshot->proxy.table = start_proxy_table(config);
    // What the loops start with: the snapshot plus what only the process
    // knows (table sizes for outbound streams); a loop keeps those on reload.
    ws::LoopSettings settings = snapshot->loop;
    if (config.deflate.enabled) {
        io::log(io::LogLevel::info, "", io::kNoConn, {},
                "permessage-deflate: at most %llu zlib streams per loop (%llu KiB each)",
                static_cast<unsigned long long>(settings.deflate_max_streams),
                static_cast<unsigned long long>(deflate_stream_bytes(config.deflate) / 1024));
    }
    ws::LoopShared shared;
    // Counts every connection per address, limits or not: a reload may set them.
    ws::PeerAdmission peer_admission(peer_admission_settings(config, threads, ws::kRefusalSlots));
    shared.peers = &peer_admission;
    // Inboxes outlive every loop (joined below), so a producer never posts
    // to a freed one.
    std::vector<std::unique_ptr<ws::LoopInbox>> inboxes;
    std::vector<ThreadStart> starts(threads);
    std::vector<std::thread> loops;
    for (unsigned t = 0; t < threads; ++t) {
        inboxes.push_back(std::make_unique<ws::LoopInbox>(ws::kLoopInboxCapacity));
        if (int rc = inboxes.back()->open(); rc != 0) starts[t].result.store(rc);
    }
    // Every inbox exists before any loop runs: hub loops post to each other.
    std::unique_ptr<pubsub::HubShared> hub;
    if (config.mode == Mode::pubsub) {
        hub = make_hub(*snapshot, inboxes);
        if (!hub) return 1;
        // Started by an upgrade: the old process's streams are to come.
        hub->awaiting_handover = inherited != nullptr;
    }
    // A reload posts the new snapshot to every loop; a full inbox is being
    // drained by its loop: wait for room.
    Reloader reloader(args, snapshot, context,
                      [&inboxes](const std::shared_ptr<const SettingsSnapshot>& next) {
                          for (auto& inbox : inboxes) {
                              if (inbox->wake().event_fd() < 0) continue;
                              ws::LoopMessage m = ws::settings_message(loop_update(next));
                              while (!inbox->post_and_signal(m))
                                  std::this_thread::sleep_for(std::chrono::milliseconds(1));
                          }
                      });
    // Under systemd (Type=notify-reload), the process that is the service
    // reports its reloads; a worker's parent does that for it.
    reloader.set_notify(ready_fd < 0);
    std::unique_ptr<TokenKeysReload> token_keys_reload;
    if (hub && hub->token_keys) {
        token_keys_reload = std::make_unique<TokenKeysReload>(*hub->token_keys);
        reloader.add_hook(token_keys_reload.get());
    }
    PeerLimitsReload peer_limits_reload(peer_admission, threads);
    reloader.add_hook(&peer_limits_reload);
    std::unique_ptr<TlsCertificatesReload> tls_reload;
    if (tls != nullptr) {
        tls_reload = std::make_unique<TlsCertificatesReload>(*tls);
        reloader.add_hook(tls_reload.get());
    }
    std::unique_ptr<proxy::ProxySettings> proxy;
    std::unique_ptr<ProxyRoutesReload> proxy_reload;
    if (config.mode == Mode::proxy) {
        proxy = std::make_unique<proxy::ProxySettings>();
        proxy->table.set(snapshot->proxy.table);
        proxy_reload = std::make_unique<ProxyRoutesReload>(proxy->table);
        reloader.add_hook(proxy_reload.get());
        proxy->connect_timeout_ms = snapshot->proxy.connect_timeout_ms;
        proxy->pages = serve_http;
        proxy->max_message_bytes = settings.max_message_bytes;
        proxy->loops = threads;
        proxy->upstream_ping_interval_ms = snapshot->proxy.upstream_ping_interval_ms;
        // Each client may hold one upstream connection besides its own.
        settings.max_outbound = config.max_connections;
    }
    if (hub && hub->settings.redis_engine) {
        // Two links per shard, and room for closed ones still lingering.
        settings.max_outbound = static_cast<uint32_t>(hub->redis_links.size() * 2 * 4 + 8);
    }
    LoopMetricsRegistry registry(threads);
    std::atomic<bool> ready{false};
    AdminServer admin;
    if (admin_fd >= 0) {
        if (int rc = admin.start(
                admin_fd, admin_handler(registry, hub.get(), proxy.get(), ready, names, reloader));
            rc != 0) {
            io::log(io::LogLevel::error, "", io::kNoConn, {}, "admin listener: %s",
                    std::strerror(-rc));
            close(admin_fd);
            return 1;
        }
    }
    for (unsigned t = 0; t < threads; ++t) {
        if (starts[t].result.load() != 1) continue;
        if (backend == io::BackendKind::io_uring) {
            loops.emplace_back(run_app_loop<io::UringBackend>, hub.get(), proxy.get(),
                               std::cref(settings), std::ref(shared), listeners[t],
                               std::ref(*inboxes[t]), t, std::ref(starts[t]), std::ref(registry));
        } else {
            loops.emplace_back(run_app_loop<io::EpollBackend>, hub.get(), proxy.get(),
                               std::cref(settings), std::ref(shared), listeners[t],
                               std::ref(*inboxes[t]), t, std::ref(starts[t]), std::ref(registry));
        }
    }
    bool ok = true;
    for (ThreadStart& s : starts) {
        s.result.wait(1);
        if (s.result.load() != 0) {
            io::log(io::LogLevel::error, "", io::kNoConn, {}, "event loop setup failed: %s",
                    std::strerror(-s.result.load()));
            ok = false;
        }
    }
    if (ok) {
        if (ready_fd >= 0) {
            char byte = 1;
            if (write(ready_fd, &byte, 1) != 1) ok = false;
            close(ready_fd);
        } else {
            print_listening(names, backend, config, threads);
            notify_ready();
        }
    }
    std::unique_ptr<UpgradeLauncher> upgrade;
    timespec upgrade_start{};
    if (ok) {
        if (inherited != nullptr) {
            std::vector<ws::LoopInbox*> targets;
            for (auto& inbox : inboxes)
                targets.push_back(inbox.get());
            inherited->start_receiving(std::move(targets));
        }
        ready.store(true);
        for (;;) {
            int sig = 0;
            sigwait(&signals, &sig);
            if (sig == SIGHUP) {
                reloader.reload();
                continue;
            }
            if (sig == SIGUSR2) {
                if (ready_fd >= 0) {
                    io::log(io::LogLevel::error, "", io::kNoConn, {},
                            "upgrade refused: not with --workers");
                    continue;
                }
                if (inherited != nullptr && inherited->active()) {
                    io::log(io::LogLevel::error, "", io::kNoConn, {},
                            "upgrade refused: still taking connections from the previous process");
                    continue;
                }
                upgrade = std::make_unique<UpgradeLauncher>();
                clock_gettime(CLOCK_MONOTONIC, &upgrade_start);
                if (upgrade->start(listeners, admin_fd,
                                   static_cast<int64_t>(config.upgrade_timeout_s * 1000))) {
                    // Under systemd the service goes on as the new process.
                    sd_notify_state("MAINPID=" + std::to_string(upgrade->child()));
                    break;
                }
                upgrade.reset();
                continue;
            }
            if (ready_fd < 0) {
                notify_stopping();
                io::log(io::LogLevel::info, "", io::kNoConn, {}, "%s, shutting down",
                        sig == SIGINT ? "SIGINT" : "SIGTERM");
            }
            break;
        }
        ready.store(false);
    }
    // Posted after any snapshot a reload posted: every loop takes it first.
    reloader.close();
    if (inherited != nullptr) inherited->stop();
    ws::LoopMessage stop;
    stop.kind = ws::LoopMessageKind::shutdown;
    if (upgrade != nullptr) {
        if (movable_connections(config)) {
            stop.kind = ws::LoopMessageKind::hand_over;
            stop.pointer = &upgrade->channel();
        } else {
            io::log(io::LogLevel::info, "", io::kNoConn, {},
                    "upgrade: connections are not moved %s: closing them with 1001 as at shutdown",
                    config.direct_descriptors ? "with --direct-descriptors (they have no "
                                                "descriptor to pass)"
                                              : "in this --mode yet");
        }
    }
    for (auto& inbox : inboxes) {
        if (inbox->wake().event_fd() < 0) continue;
        // A full inbox is being drained by its loop: wait for room.
        while (!inbox->post_and_signal(stop))
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (std::thread& t : loops)
        t.join();
    // What loops posted to each other after a loop's last drain: freed.
    for (auto& inbox : inboxes) {
        inbox->drain([&hub](const ws::LoopMessage& m) {
            if (m.kind == ws::LoopMessageKind::settings) {
                ws::take_settings_update(m);
            } else if (m.kind == ws::LoopMessageKind::adopt_state) {
                delete static_cast<ws::LoopStateBatch*>(m.pointer);
            } else if (hub) {
                pubsub::discard_message(m);
            }
        });
    }
    admin.stop();
    if (upgrade != nullptr) {
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t elapsed = (now.tv_sec - upgrade_start.tv_sec) * 1000 +
                          (now.tv_nsec - upgrade_start.tv_nsec) / 1000000;
        upgrade->finish(elapsed, static_cast<int64_t>(config.upgrade_timeout_s * 1000));
    }
    return ok ? 0 : 1;
}

// A worker that dies is restarted; more deaths than this within the window
// mean restarting does not help (see RestartBudget).
constexpr uint32_t kMaxWorkerRestarts = 5;
constexpr int64_t kWorkerRestartWindowMs = 30 * 1000;

// --workers N: N processes, each with `threads` loops on its own SO_REUSEPORT
// sockets (listeners[w * threads + t]), so the kernel spreads connections
// over them. The parent keeps every worker's listening sockets open: while a
// dead worker is being restarted, its share of new connections waits in its
// sockets' accept queues for the new worker instead of being refused.
int supervise(const Config& config, const std::vector<std::string>& args,
              tls::TlsServerContext* tls, io::BackendKind backend,
              const std::vector<std::vector<int>>& listeners, const std::vector<std::string>& names,
              const sigset_t& signals, unsigned threads) {
    // A worker forked after a crash starts from `running`: the start-up
    // configuration with the live keys' values of the last reload.
    Config running = config;
    RunWorker run_worker = [&](unsigned w, int ready_fd) {
        std::vector<std::vector<int>> mine;
        for (unsigned slot = 0; slot < listeners.size(); ++slot) {
            if (slot / threads == w) {
                mine.push_back(listeners[slot]);
            } else {
                for (int fd : listeners[slot])
                    close(fd);
            }
        }
        return serve(running, args, tls, backend, mine, names, signals, ready_fd);
    };
    // Each worker reloads itself on SIGHUP; the parent reads the files again
    // too (the configuration as a reload plans it, and the TLS certificates),
    // so that a worker it forks after a crash serves what its siblings serve,
    // not what they started with. Its outcome is the workers' (same files):
    // only a failure here is logged.
    auto reload_for_restarts = [&] {
        std::vector<const char*> argv;
        for (const std::string& a : args)
            argv.push_back(a.c_str());
        Config next;
        std::string error = parse_config(static_cast<int>(argv.size()), argv.data(), &next);
        if (error.empty() && tls != nullptr) tls->reload(tls_settings(next), &error);
        if (!error.empty()) {
            io::log(io::LogLevel::info, "", io::kNoConn, {},
                    "SIGHUP: restarted workers keep the previous configuration: %s", error.c_str());
            return;
        }
        running = plan_reload(config, running, next).effective;
    };
    int result = supervise_workers(
        config.workers, RestartBudget(kMaxWorkerRestarts, kWorkerRestartWindowMs), signals,
        run_worker,
        [&] {
            print_listening(names, backend, config, threads);
            notify_ready();
        },
        reload_for_restarts);
    for (const auto& slot : listeners) {
        for (int fd : slot)
            close(fd);
    }
    return result;
}

// wsgate check-config FILE [FLAGS]: the effective configuration of FILE
// (with FLAGS over it, as `wsgate --config FILE FLAGS` would run) on stdout:
// every key, defaults included, loadable again with --config; exit 0. Or one
// error line (naming the file, line and column when the file is wrong), exit 2.
int check_config_file(int argc, char** argv) {
    if (argc < 3 || argv[2][0] == '-') {
        io::log(io::LogLevel::error, "", io::kNoConn, {},
                "usage: wsgate check-config FILE [FLAGS]");
        return 2;
    }
    std::vector<const char*> args = {argv[0], "--config", argv[2]};
    std::string flags;
    for (int i = 3; i < argc; ++i) {
        args.push_back(argv[i]);
        flags += ' ';
        flags += argv[i];
    }
    Config config;
    std::string error = parse_config(static_cast<int>(args.size()), args.data(), &config);
    if (!error.empty()) {
        io::log(io::LogLevel::error, "", io::kNoConn, {}, "%s", error.c_str());
        return 2;
    }
    std::printf("# wsgate %s: the effective configuration of %s%s\n%s\n%s", WSGATE_VERSION, argv[2],
                flags.c_str(), format_config(config).c_str(), describe_reload_policy().c_str());
    return 0;
}

int run(int argc, char** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "check-config") == 0)
        return check_config_file(argc, argv);
    // Started by a live upgrade: the old process's handover socket.
    UpgradeReceiver inherited;
    const int handover_fd = UpgradeReceiver::inherited_socket();
    UpgradeLauncher::remember(argc, argv);
    Config config;
    std::string error = parse_config(argc, argv, &config);
    if (!error.empty()) {
        io::log(io::LogLevel::error, "", io::kNoConn, {}, "%s", error.c_str());
        return 2;
    }
    io::set_log_format(config.log_format);
    io::set_log_level(config.log_level);
    if (config.help) {
        std::fputs(config_help().c_str(), stdout);
        return 0;
    }
    if (config.version || config.features) {
        if (config.version) {
            utsname host{};
            uname(&host);
            std::printf("wsgate %s\nkernel %s %s\n", WSGATE_VERSION, host.sysname, host.release);
        }
        std::printf("io_uring features: %s\n",
                    io::describe_uring_features(io::uring_features()).c_str());
        return 0;
    }
    if (!config.config_file.empty())
        io::log(io::LogLevel::info, "", io::kNoConn, {}, "settings from %s",
                config.config_file.c_str());
    // Every connection is a descriptor (or, with --direct-descriptors, a
    // fixed-file slot, whose table size RLIMIT_NOFILE caps): use the hard limit.
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    unsigned threads = config.threads;
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());

    // A forced epoll never touches io_uring (a seccomp filter may kill on it).
    std::string message;
    io::BackendKind backend = config.backend == io::BackendKind::epoll
                                  ? io::BackendKind::epoll
                                  : io::choose_backend(config.backend, io::uring_features(),
                                                       config.direct_descriptors, &message);
    if (!message.empty()) io::log(io::LogLevel::info, "", io::kNoConn, {}, "%s", message.c_str());
    if (config.backend == io::BackendKind::io_uring && !message.empty()) return 1;

    // Made before any worker forks: they share its ticket keys.
    std::unique_ptr<tls::TlsServerContext> tls;
    tls::KernelTlsPlan ktls_plan;
    if (has_tls_listener(config)) {
        ktls_plan =
            tls::plan_kernel_tls(config.tls_kernel, tls::probe_kernel_tls(),
                                 config.direct_descriptors && backend == io::BackendKind::io_uring);
        tls::TlsSettings settings = tls_settings(config);
        settings.kernel_tls = ktls_plan.prepare;
        tls = tls::TlsServerContext::create(settings, &error);
        if (!tls) {
            io::log(io::LogLevel::error, "", io::kNoConn, {}, "%s", error.c_str());
            return 1;
        }
        io::log(io::LogLevel::info, "", io::kNoConn, {},
                "TLS 1.2/1.3, ALPN http/1.1, certificates: %s", tls->describe().c_str());
    }

    std::vector<std::vector<int>> listeners;
    std::vector<std::string> names;
    int inherited_admin = -1;
    int rc = 0;
    if (handover_fd >= 0) {
        if (config.workers > 1) {
            io::log(io::LogLevel::error, "", io::kNoConn, {},
                    "upgrade: cannot take over with --workers");
            return 1;
        }
        rc = inherited.take_listeners(handover_fd, threads, config.listen.size(), &listeners,
                                      &inherited_admin);
        if (rc != 0) return rc;
        for (int fd : listeners[0])
            names.push_back(io::format_endpoint(io::local_endpoint(fd)));
    } else {
        rc = open_listeners(config, threads * config.workers, &listeners, &names);
    }
    if (rc != 0) return rc;
    if (tls) log_tls_listeners(config, names, ktls_plan.text);
    if (config.backend != io::BackendKind::epoll) {
        // Probed once, before any worker or loop exists; every ring reuses it.
        io::log(io::LogLevel::info, "", io::kNoConn, {}, "io_uring features: %s",
                io::describe_uring_features(io::uring_features()).c_str());
    }

    // Signals are taken synchronously with sigwait; loop threads never see them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    // SIGHUP reloads (a --workers parent passes it on to every worker).
    sigaddset(&signals, SIGHUP);
    if (config.workers > 1) {
        // Live upgrade is for a single process (its connections are its
        // own); the default action of SIGUSR2 would end the process.
        signal(SIGUSR2, SIG_IGN);
    } else {
        sigaddset(&signals, SIGUSR2);  // live upgrade (gateway/live_upgrade.hpp)
    }
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    std::vector<std::string> args(argv, argv + argc);
    if (config.workers > 1) {
        return supervise(config, args, tls.get(), backend, listeners, names, signals, threads);
    }
    int admin_fd = -1;
    if (!config.admin_listen.empty() && inherited_admin >= 0) {
        admin_fd = inherited_admin;
    } else if (!config.admin_listen.empty()) {
        admin_fd = open_admin_listener(config.admin_listen);
        if (admin_fd < 0) return 1;
    } else if (inherited_admin >= 0) {
        close(inherited_admin);
    }
    return serve(config, args, tls.get(), backend, listeners, names, signals, -1, admin_fd,
                 handover_fd >= 0 ? &inherited : nullptr);
}

}  // namespace
}  // namespace wsgate::gateway

int main(int argc, char** argv) {
    return wsgate::gateway::run(argc, argv);
}
